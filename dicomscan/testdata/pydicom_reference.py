"""Reference values for dicomscan's corpus test, computed with pydicom.

Usage: /usr/bin/python3 pydicom_reference.py DATA_DIR > pydicom_reference.json

DATA_DIR is pydicom's data directory (the parent of test_files and
charset_files). For every file, in the order Go's filepath.WalkDir visits
them, it prints what dicomscan must find: the status by the rules of the Aura
uploader (spec section 6, with the Go SDK's fixes of section 8) and, for
instances, the transfer syntax and the 26 attributes decoded by pydicom.
"""
import json
import os
import sys

import pydicom
import pydicom.charset
from pydicom.charset import decode_bytes
from pydicom.errors import InvalidDicomError
from pydicom.valuerep import PN_DELIMS, TEXT_VR_DELIMS

ATTRS = [
    ("patient_name", 0x00100010), ("patient_id", 0x00100020),
    ("other_patient_ids", 0x00101000), ("patient_birth_date", 0x00100030),
    ("patient_sex", 0x00100040), ("issuer_of_patient_id", 0x00100021),
    ("referring_physician_name", 0x00080090), ("institution_address", 0x00080081),
    ("study_description", 0x00081030), ("protocol_name", 0x00181030),
    ("accession_no", 0x00080050), ("study_id", 0x00200010),
    ("study_date", 0x00080020), ("study_time", 0x00080030),
    ("tz_offset", 0x00080201), ("series_description", 0x0008103E),
    ("series_number", 0x00200011), ("modality", 0x00080060),
    ("body_part", 0x00180015), ("series_date", 0x00080021),
    ("series_time", 0x00080031), ("study_uid", 0x0020000D),
    ("series_uid", 0x0020000E), ("instance_uid", 0x00080018),
    ("sop_class_uid", 0x00080016), ("institution_name", 0x00080080),
]
TEXT_VRS = {"PN", "LO", "SH", "ST", "LT", "UT", "UC"}


def walk(root):
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        if os.path.isdir(p):
            yield from walk(p)
        else:
            yield p


def clean(s):
    return s.split("\x00", 1)[0].strip()


def value(ds, tag):
    """The value as the Aura uploader reads it (raw, trimmed), with text
    decoded by pydicom's own decoder for the Specific Character Set."""
    if tag not in ds:
        return ""
    raw = ds.get_item(tag).value
    if raw is None:
        return ""
    if not isinstance(raw, bytes):  # already converted by pydicom
        v = raw
        if isinstance(v, (list, pydicom.multival.MultiValue)):
            return clean("\\".join(str(x) for x in v))
        return clean(str(v))
    raw = raw.split(b"\x00", 1)[0]
    vr = ds[tag].VR
    if vr == "PN":
        enc = pydicom.charset.convert_encodings(ds.get("SpecificCharacterSet"))
        groups = raw.split(b"=")
        return clean("=".join(decode_bytes(g, enc, PN_DELIMS) for g in groups))
    if vr in TEXT_VRS:
        enc = pydicom.charset.convert_encodings(ds.get("SpecificCharacterSet"))
        values = raw.split(b"\\")
        return clean("\\".join(decode_bytes(v, enc, TEXT_VR_DELIMS) for v in values))
    return clean(raw.decode("latin-1"))


def attributes(ds):
    attrs = {}
    for key, tag in ATTRS:
        attrs[key] = value(ds, tag)
    ids = attrs["other_patient_ids"]
    attrs["other_patient_ids"] = [x.strip() for x in ids.split("\\")] if ids else None
    return attrs


def forced_attributes(path):
    """What a dataset without the preamble holds (dcmread force=True), for
    dicomscan's AllowNoPreamble; None if it is not a dataset with UIDs."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        attrs = attributes(ds)
    except Exception:  # noqa: BLE001
        return None
    if not attrs["study_uid"] or not attrs["instance_uid"]:
        return None
    return attrs


def record(path, rel, sops):
    r = {"path": rel}
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        r["status"] = "not_dicom"
        forced = forced_attributes(path)
        if forced is not None:
            r["forced"] = forced
        return r
    except Exception as e:  # noqa: BLE001
        r["status"] = "error"
        r["error"] = type(e).__name__
        return r
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == "1.2.840.10008.1.3.10":
        r["status"] = "dicomdir"
        return r
    attrs = attributes(ds)
    r["ts"] = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    r["attributes"] = attrs
    if attrs["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.66" and attrs["protocol_name"] == "ExamCard":
        r["status"] = "rejected"
    elif not attrs["study_uid"] or not attrs["series_uid"]:
        r["status"] = "rejected"
    elif attrs["instance_uid"] and attrs["instance_uid"] in sops:
        r["status"] = "duplicate"
    else:
        r["status"] = "instance"
        if attrs["instance_uid"]:
            sops.add(attrs["instance_uid"])
    return r


def main():
    data = sys.argv[1]
    out = {"pydicom": pydicom.__version__, "corpora": {}}
    for corpus in ("test_files", "charset_files"):
        root = os.path.join(data, corpus)
        sops = set()
        files = []
        for p in walk(root):
            files.append(record(p, os.path.relpath(p, root), sops))
        out["corpora"][corpus] = files
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
