//! The benchmark's floor: a trivial external extension that registers for INVOKE and SHUTDOWN with the
//! same `lambda-extension` crate and loops on `next` doing nothing (exits at SHUTDOWN).

use lambda_extension::{LambdaEvent, NextEvent, service_fn};

fn main() -> Result<(), lambda_extension::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(lambda_extension::run(service_fn(
        |event: LambdaEvent| async move {
            if let NextEvent::Shutdown(_) = event.next {
                std::process::exit(0);
            }
            Ok::<(), lambda_extension::Error>(())
        },
    )))
}
