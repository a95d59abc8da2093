#!/usr/bin/python3
"""Make pyjwt_fixtures.json: share tokens as the Python services sign them.

Run with Debian's Python, which has python3-jwt (PyJWT 2.6.0):

    /usr/bin/python3 share/testdata/interop/make_fixtures.py > share/testdata/interop/pyjwt_fixtures.json

The payloads follow the layouts of orthanc-share (v0, v1, v2) and
orthanc-auth-service (v3): pydantic models dumped by field name, in field
order, nulls kept; the secrets are the demo keys published with those
projects (spec §1.4) plus one 48-byte key. PyJWT output is deterministic,
so running the script again gives the same file. TestPyJWTFixtures reads it.
"""
import base64
import hashlib
import hmac
import json
import sys

import jwt

TOTO = "toto"
MY = "my-secret-key"
CHANGE_ME = "change-me-I-am-a-secret-key"
LONG = "interop-secret-0123456789-abcdefghijklmnopqrstuvw"  # 48 bytes

O1 = "0195f13e-4afe6822-8b494cc4-5162c50d-0daf66aa"
O2 = "6b9e19d9-62094390-5f9ddb01-4a191ae7-9766b715"
D1 = "1.2.840.113619.2.55.3.604688119.868.1234567890.1"
D2 = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"

fixtures = []


def add(name, secret, payload, want=None, error="", token=None):
    if token is None:
        token = jwt.encode(payload, secret, algorithm="HS256")
    if not error:
        # What the services do before using a token.
        jwt.decode(token, secret, algorithms="HS256", options={"verify_exp": False})
    fixtures.append({"name": name, "secret": secret, "token": token,
                     "payload": payload, "want": want, "error": error})


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign_raw(header_json, payload_json, secret, alg=hashlib.sha256):
    si = b64(header_json.encode()) + "." + b64(payload_json.encode())
    sig = hmac.new(secret.encode(), si.encode(), alg).digest()
    return si + "." + b64(sig)


def res(d, o, level="study", url=None):
    return {"dicom_uid": d, "orthanc_id": o, "level": level, "url": url}


# v0: orthanc-share July 2022 (the README token's layout).
add("v0 osimis toto", TOTO,
    {"id": "toto", "dicom_uid": "1.2", "orthanc_id": O1,
     "type": "osimis-viewer-publication", "expiration_date": "2099-07-07T11:00:00+00:00"},
    {"version": "v0", "id": "toto", "type": "osimis-viewer-publication", "anonymized": False,
     "expires": "2099-07-07T11:00:00Z", "resources": [res("1.2", O1)]})
add("v0 expired", TOTO,
    {"id": "toto", "dicom_uid": "1.2", "orthanc_id": O1,
     "type": "osimis-viewer-publication", "expiration_date": "2022-07-07T11:00:00+00:00"},
    error="expired")

# v1: 22.9.0 .. 22.10.5, anonymized claim.
add("v1 anonymized my-secret-key", MY,
    {"id": "demo-1", "dicom_uid": D1, "orthanc_id": O1, "anonymized": True,
     "type": "osimis-viewer-publication", "expiration_date": None},
    {"version": "v1", "id": "demo-1", "type": "osimis-viewer-publication", "anonymized": True,
     "expires": "", "resources": [res(D1, O1)]})
add("v1 meddream publication, null id", MY,
    {"id": None, "dicom_uid": D2, "orthanc_id": None, "anonymized": False,
     "type": "meddream-viewer-publication", "expiration_date": "2099-12-31T23:59:59.500000+00:00"},
    {"version": "v1", "id": "", "type": "meddream-viewer-publication", "anonymized": False,
     "expires": "2099-12-31T23:59:59.5Z", "resources": [res(D2, "")]})

# v2: 22.10.6 .. 23.1.0, studies list.
add("v2 stone two studies change-me", CHANGE_ME,
    {"id": None, "studies": [{"dicom_uid": D1, "orthanc_id": O1}, {"dicom_uid": D2, "orthanc_id": O2}],
     "anonymized": False, "type": "stone-viewer-publication",
     "expiration_date": "2099-12-31T11:00:00.123000+00:00"},
    {"version": "v2", "id": "", "type": "stone-viewer-publication", "anonymized": False,
     "expires": "2099-12-31T11:00:00.123Z", "resources": [res(D1, O1), res(D2, O2)]})
add("v2 offset +02:00", LONG,
    {"id": "offset", "studies": [{"dicom_uid": D1, "orthanc_id": O1}],
     "anonymized": False, "type": "osimis-viewer-publication",
     "expiration_date": "2099-06-01T12:00:00+02:00"},
    {"version": "v2", "id": "offset", "type": "osimis-viewer-publication", "anonymized": False,
     "expires": "2099-06-01T10:00:00Z", "resources": [res(D1, O1)]})
# The header of the 2022 samples (typ first), signed by hand.
add("v2 typ-first header", MY, None,
    {"version": "v2", "id": "hdr", "type": "stone-viewer-publication", "anonymized": False,
     "expires": "", "resources": [res(D1, "")]},
    token=sign_raw('{"typ":"JWT","alg":"HS256"}',
                   json.dumps({"id": "hdr", "studies": [{"dicom_uid": D1, "orthanc_id": None}],
                               "anonymized": False, "type": "stone-viewer-publication",
                               "expiration_date": None}, separators=(",", ":")), MY))

# v3: orthanc-auth-service.
add("v3 ohif 2023 (no validity_duration)", MY,
    {"id": "share-1", "resources": [{"dicom_uid": D1, "orthanc_id": O1, "url": None, "level": "study"}],
     "type": "ohif-viewer-publication", "expiration_date": "2099-01-01T00:00:00+00:00"},
    {"version": "v3", "id": "share-1", "type": "ohif-viewer-publication", "anonymized": False,
     "expires": "2099-01-01T00:00:00Z", "resources": [res(D1, O1)]})
add("v3 instant link with validity_duration, naive date", CHANGE_ME,
    {"id": None, "resources": [{"dicom_uid": D2, "orthanc_id": O2, "url": None, "level": "study"}],
     "type": "viewer-instant-link", "expiration_date": "2099-01-01T10:00:00.123456",
     "validity_duration": 3600},
    {"version": "v3", "id": "", "type": "viewer-instant-link", "anonymized": False,
     "expires": "2099-01-01T10:00:00.123456Z", "validity_duration": 3600, "resources": [res(D2, O2)]})
add("v3 series level with url, long secret", LONG,
    {"id": "s", "resources": [{"dicom_uid": "1.2.3", "orthanc_id": "abc", "url": "https://x/y", "level": "series"}],
     "type": "download-instant-link", "expiration_date": None, "validity_duration": None},
    {"version": "v3", "id": "s", "type": "download-instant-link", "anonymized": False,
     "expires": "", "resources": [res("1.2.3", "abc", "series", "https://x/y")]})
add("v3 non-ASCII id", LONG,
    {"id": "\u00c9tude \u7814\u7a76 \U0001F600 <&>", "resources": [{"dicom_uid": D1, "orthanc_id": None, "url": None, "level": "study"}],
     "type": "stone-viewer-publication", "expiration_date": None, "validity_duration": None},
    {"version": "v3", "id": "\u00c9tude \u7814\u7a76 \U0001F600 <&>", "type": "stone-viewer-publication",
     "anonymized": False, "expires": "", "resources": [res(D1, "")]})
add("v3 hyphenated aliases", LONG,
    {"id": "alias", "resources": [{"dicom-uid": D1, "orthanc-id": O1, "url": None, "level": "study"}],
     "type": "stone-viewer-publication", "expiration-date": "2099-01-01T00:00:00Z", "validity-duration": 60},
    {"version": "v3", "id": "alias", "type": "stone-viewer-publication", "anonymized": False,
     "expires": "2099-01-01T00:00:00Z", "validity_duration": 60, "resources": [res(D1, O1)]})

# Tokens that must be refused.
good = {"id": "x", "resources": [{"dicom_uid": D1, "orthanc_id": O1, "url": None, "level": "study"}],
        "type": "stone-viewer-publication", "expiration_date": None, "validity_duration": None}
add("wrong secret", LONG, good, error="signature",
    token=jwt.encode(good, LONG + "!", algorithm="HS256"))
add("HS512", LONG, good, error="signature", token=jwt.encode(good, LONG, algorithm="HS512"))
add("HS384", LONG, good, error="signature", token=jwt.encode(good, LONG, algorithm="HS384"))
add("alg none", LONG, good, error="signature",
    token=b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(good, separators=(",", ":")).encode()) + ".")
add("aud claim", LONG, dict(good, aud="orthanc"), error="malformed",
    token=jwt.encode(dict(good, aud="orthanc"), LONG, algorithm="HS256"))
add("unknown type", LONG, dict(good, type="admin"), error="malformed",
    token=jwt.encode(dict(good, type="admin"), LONG, algorithm="HS256"))
add("v2 with a v3-only type", LONG, None, error="malformed",
    token=jwt.encode({"id": None, "studies": [{"dicom_uid": D1, "orthanc_id": O1}], "anonymized": False,
                      "type": "ohif-viewer-publication", "expiration_date": None}, LONG, algorithm="HS256"))
add("exp claim passed", LONG, None, error="expired",
    token=jwt.encode(dict(good, exp=1600000000), LONG, algorithm="HS256"))

json.dump({"generator": "make_fixtures.py with PyJWT " + jwt.__version__, "fixtures": fixtures},
          sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
