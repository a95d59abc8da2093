"""Reads DICOM files with pydicom and prints one JSON object per file.

Used by the tests of examples/deid as an independent reader: each object
has the file meta and dataset UIDs, the patient attributes, the
de-identification attributes, the SHA-256 of the pixel data as stored,
every UID value at any depth, and every top-level attribute as
{"GGGGEEEE": [vr, value-as-text]}. Usage: readback.py FILE...
"""
import hashlib
import json
import sys

import pydicom


def uids(ds, out):
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                uids(item, out)
        elif elem.VR == "UI" and elem.value:
            vals = elem.value if isinstance(elem.value, (list, pydicom.multival.MultiValue)) else [elem.value]
            out.extend(str(v) for v in vals)


def text(elem):
    if elem.VR == "SQ":
        return "<%d items>" % len(elem.value)
    if elem.tag == 0x7FE00010 or elem.VR in ("OB", "OW", "OF", "OD", "OL", "UN"):
        return "<%d bytes>" % len(elem.value or b"")
    v = elem.value
    if v is None:
        return ""
    if isinstance(v, (list, pydicom.multival.MultiValue)):
        return "\\".join(str(x) for x in v)
    return str(v)


def main():
    for path in sys.argv[1:]:
        ds = pydicom.dcmread(path)
        meta = ds.file_meta
        pixels = ds.get("PixelData")
        found = []
        uids(ds, found)
        attrs = {}
        for elem in ds:
            attrs["%08X" % int(elem.tag)] = [elem.VR, text(elem)]
        print(json.dumps({
            "path": path,
            "meta_sop_instance_uid": str(meta.get("MediaStorageSOPInstanceUID", "")),
            "transfer_syntax_uid": str(meta.get("TransferSyntaxUID", "")),
            "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
            "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
            "study_instance_uid": str(ds.get("StudyInstanceUID", "")),
            "patient_id": str(ds.get("PatientID", "")),
            "patient_name": str(ds.get("PatientName", "")),
            "patient_identity_removed": str(ds.get("PatientIdentityRemoved", "")),
            "deidentification_method": str(ds.get("DeidentificationMethod", "")),
            "pixel_sha256": hashlib.sha256(pixels).hexdigest() if pixels is not None else "",
            "uids": found,
            "attrs": attrs,
        }))


main()
