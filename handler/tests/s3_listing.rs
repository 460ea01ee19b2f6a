//! The S3 bucket lister against a real S3 protocol server (moto): every page is followed, and
//! S3's own errors come back typed with S3's code.

mod common;

use common::s3_client as client;
use handler::buckets::{BucketLister, S3BucketLister, S3ErrorKind};
use testkit::MotoServer;

#[tokio::test]
async fn lists_every_bucket_over_several_pages() {
    let moto = MotoServer::start().expect("moto");
    let s3 = client(&moto.endpoint());
    let mut expected: Vec<String> = (0..7).map(|i| format!("demo-bucket-{i:02}")).collect();
    for name in &expected {
        s3.create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("create bucket");
    }
    expected.sort();

    for page_size in [Some(2), Some(3), Some(7), Some(100), None] {
        let lister = S3BucketLister::new(s3.clone(), page_size);
        let mut names = lister.list_bucket_names().await.expect("listing");
        names.sort();
        assert_eq!(names, expected, "page size {page_size:?}");
    }
}

#[tokio::test]
async fn empty_account_is_an_empty_list() {
    let moto = MotoServer::start().expect("moto");
    let lister = S3BucketLister::new(client(&moto.endpoint()), Some(2));
    assert_eq!(
        lister.list_bucket_names().await.expect("listing"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn s3_service_error_keeps_s3_code_and_request_id() {
    // With authentication on, moto rejects unknown access keys as S3 does.
    let moto = MotoServer::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]).expect("moto");
    let lister = S3BucketLister::new(client(&moto.endpoint()), None);
    let error = lister.list_bucket_names().await.expect_err("must fail");
    assert_eq!(error.code, "InvalidAccessKeyId");
    assert_eq!(error.kind, S3ErrorKind::Service);
    assert!(error.s3_request_id.is_some(), "{error:?}");
}

#[tokio::test]
async fn unreachable_s3_is_a_network_error() {
    let port = testkit::moto::free_port().expect("port");
    let lister = S3BucketLister::new(client(&format!("http://127.0.0.1:{port}")), None);
    let error = lister.list_bucket_names().await.expect_err("must fail");
    assert_eq!(error.kind, S3ErrorKind::Network, "{error:?}");
    assert_eq!(error.code, "NetworkError");
}
