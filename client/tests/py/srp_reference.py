"""Independent Cognito SRP answers for the client's tests, computed by pycognito's AWSSRP.

Reads a JSON list of cases on stdin:
  {"pool_id", "client_id", "username", "password", "small_a_hex", "now" (ISO 8601, UTC),
   "challenge": {"USERNAME", "USER_ID_FOR_SRP", "SALT", "SRP_B", "SECRET_BLOCK"}}
and prints, for each, SRP_A and the PASSWORD_VERIFIER challenge responses.
"""

import datetime
import json
import sys
from unittest import mock

from pycognito import aws_srp


def answer(case):
    srp = aws_srp.AWSSRP(
        username=case["username"],
        password=case["password"],
        pool_id=case["pool_id"],
        client_id=case["client_id"],
        client=object(),  # never called: no network
    )
    srp.small_a_value = int(case["small_a_hex"], 16) % srp.big_n
    srp.large_a_value = srp.calculate_a()
    now = datetime.datetime.fromisoformat(case["now"]).replace(tzinfo=None)
    fake_datetime = mock.Mock(wraps=datetime.datetime)
    fake_datetime.utcnow.return_value = now
    with mock.patch.object(aws_srp.datetime, "datetime", fake_datetime):
        responses = srp.process_challenge(case["challenge"], {"USERNAME": case["username"]})
    return {"srp_a": srp.get_auth_params()["SRP_A"], "responses": responses}


def main():
    json.dump([answer(case) for case in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
