"""Independent SigV4 signatures for the client's tests: botocore (what the AWS CLI uses) and awscurl.

Reads a JSON list of requests on stdin and prints, for each, the Authorization header botocore
and (when asked) awscurl compute for the same request, credentials and timestamp:

  {"method", "url", "awscurl_url"?, "headers": [[name, value], ...], "body_b64",
   "access_key", "secret_key", "token", "region", "service", "amz_date"}
"""

import base64
import datetime
import json
import sys
from unittest import mock

import awscurl.awscurl as awscurl_module
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def fixed_time(amz_date):
    return datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")


def botocore_authorization(case, body):
    # Headers botocore adds itself are left out; every other given header is signed.
    headers = {
        name: value
        for name, value in case["headers"]
        if name.lower() not in ("x-amz-date", "x-amz-security-token", "authorization")
    }
    request = AWSRequest(method=case["method"], url=case["url"], data=body, headers=headers)
    credentials = Credentials(case["access_key"], case["secret_key"], case.get("token"))
    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed_time(case["amz_date"])):
        SigV4Auth(credentials, case["service"], case["region"]).add_auth(request)
    return request.headers["Authorization"]


def awscurl_authorization(case, body):
    sent = {}

    def capture(uri, data, headers, method, verify, allow_redirects, tls_min, tls_max):
        sent.update(headers)

    headers = {
        name: value
        for name, value in case["headers"]
        if name.lower() not in ("host", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")
    }
    patches = {
        "__now": lambda: fixed_time(case["amz_date"]),
        "__send_request": capture,
    }
    with mock.patch.dict(awscurl_module.__dict__, patches):
        awscurl_module.make_request(
            case["method"],
            case["service"],
            case["region"],
            case["awscurl_url"],
            headers,
            body,
            case["access_key"],
            case["secret_key"],
            case.get("token"),
            True,
        )
    return sent["Authorization"]


def main():
    results = []
    for case in json.load(sys.stdin):
        body = base64.b64decode(case["body_b64"])
        result = {"botocore": botocore_authorization(case, body)}
        if case.get("awscurl_url"):
            result["awscurl"] = awscurl_authorization(case, body)
        results.append(result)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
