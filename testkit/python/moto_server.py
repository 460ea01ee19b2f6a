"""moto's server, with S3 ListBuckets pagination as S3 does it.

moto 5.2.5 truncates ListBuckets at MaxBuckets but never returns a ContinuationToken (and
ignores the one it is sent), so a client following the protocol silently gets the first page
only. This launcher replaces that one handler with the behaviour S3 documents: buckets in name
order, `ContinuationToken` in the response while more remain, `continuation-token` honoured.
Everything else is moto unchanged.

Usage: python moto_server.py [moto_server arguments, e.g. -H 127.0.0.1 -p 5000]
"""

import sys

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult
from moto.s3.responses import S3Response
from moto.server import main


def all_buckets(self: S3Response) -> TYPE_RESPONSE:
    self.data["Action"] = "ListAllMyBuckets"
    self._authenticate_and_authorize_s3_action()
    prefix = self._get_param("prefix")
    bucket_region = self._get_param("bucket-region")
    max_buckets = self._get_param("max-buckets")
    token = self._get_param("continuation-token")
    buckets = sorted(
        self.backend.list_buckets(prefix=prefix, bucket_region=bucket_region, max_buckets=None),
        key=lambda bucket: bucket.name,
    )
    if token:
        buckets = [bucket for bucket in buckets if bucket.name > token]
    result = {
        "Owner": {"ID": "bcaf1ffd86f41161ca5fb16fd081034f", "DisplayName": "webfile"},
    }
    if max_buckets and len(buckets) > int(max_buckets):
        buckets = buckets[: int(max_buckets)]
        result["ContinuationToken"] = buckets[-1].name
    if prefix:
        result["Prefix"] = prefix
    result["Buckets"] = [
        {"Name": bucket.name, "CreationDate": bucket.creation_date_ISO8601} for bucket in buckets
    ]
    self.data["Action"] = "ListBuckets"
    return self.serialized(ActionResult(result))


S3Response.all_buckets = all_buckets

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
