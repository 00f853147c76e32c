#!/usr/bin/python3
"""Signs request cases with botocore's S3SigV4Auth (the reference signer).

Usage: /usr/bin/python3 botocore_sign.py CASES.json
CASES.json: [{"method","scheme","host","port","path" (raw, unencoded),
              "query": [[name, value], ...] (raw), "range" (or ""), "body_hex",
              "access","secret","token","region","unix_ms"}]
Prints a JSON list: [{"authorization","x-amz-date","x-amz-content-sha256"}].
The URL is built the way botocore's REST serializer does: the key path
percent-encoded with safe='/~', query parameters given as request params.
"""
import datetime
import json
import sys
from unittest import mock
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    default_port = {"http": 80, "https": 443}[case["scheme"]]
    netloc = case["host"]
    if case["port"] and case["port"] != default_port:
        netloc += ":%d" % case["port"]
    elif case["port"]:
        netloc += ":%d" % case["port"]  # explicit default port: botocore must drop it from Host
    url = "%s://%s%s" % (case["scheme"], netloc, quote(case["path"], safe="/~"))
    headers = {}
    if case["range"]:
        headers["Range"] = case["range"]
    body = bytes.fromhex(case["body_hex"])
    req = AWSRequest(method=case["method"], url=url, headers=headers, data=body,
                     params=[(k, v) for k, v in case["query"]])
    creds = Credentials(case["access"], case["secret"], case["token"] or None)
    when = datetime.datetime.utcfromtimestamp(case["unix_ms"] / 1000.0)
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = when
        S3SigV4Auth(creds, "s3", case["region"]).add_auth(req)
    return {
        "authorization": req.headers["Authorization"],
        "x-amz-date": req.headers["X-Amz-Date"],
        "x-amz-content-sha256": req.headers["X-Amz-Content-SHA256"],
    }


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    json.dump([sign(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
