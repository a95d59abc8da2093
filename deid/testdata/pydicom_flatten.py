"""Flatten DICOM files with pydicom, for deid's interoperability test.

Usage: pydicom_flatten.py FILE...

Prints one JSON object per file and line: {"path", "error", "meta",
"elements"}, where elements maps a path such as "(0008,1140)[0](0008,1155)"
to [VR, value]. Text values are stripped of padding, multi-values joined
with a backslash, sequences give their item count, binary values and pixel
data the SHA-256 of their bytes. Reading walks every nested item, so a
file that pydicom cannot parse completely reports an error.
"""
import hashlib
import json
import sys
import warnings

import pydicom
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

warnings.simplefilter("ignore")

BINARY = {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "US", "SS", "UL", "SL",
          "FL", "FD", "AT", "SV", "UV", "US or SS", "OB or OW", "US or OW",
          "US or SS or OW"}


def tag_str(tag):
    return "(%04X,%04X)" % (tag.group, tag.element)


def text(v):
    if isinstance(v, MultiValue) or isinstance(v, list):
        return "\\".join(text(x) for x in v)
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.decode("latin-1").strip(" \x00")
    return str(v).strip(" \x00")


def walk(ds, prefix, out):
    for elem in ds:
        path = prefix + tag_str(elem.tag)
        if elem.VR == "SQ" or isinstance(elem.value, Sequence):
            items = elem.value or []
            out[path] = ["SQ", str(len(items))]
            for i, item in enumerate(items):
                walk(item, "%s[%d]" % (path, i), out)
            continue
        raw = elem.value
        if elem.VR in BINARY or isinstance(raw, (bytes, bytearray)) and elem.VR not in ("UI",):
            if isinstance(raw, (bytes, bytearray)):
                out[path] = [elem.VR, hashlib.sha256(bytes(raw)).hexdigest()]
            else:
                out[path] = [elem.VR, repr(raw)]
            continue
        out[path] = [elem.VR, text(raw)]


def main():
    for name in sys.argv[1:]:
        rec = {"path": name, "error": "", "meta": {}, "elements": {}}
        try:
            ds = pydicom.dcmread(name, force=False)
            meta = ds.file_meta
            rec["meta"] = {
                "transfer_syntax": text(meta.get("TransferSyntaxUID", "")),
                "sop_instance": text(meta.get("MediaStorageSOPInstanceUID", "")),
            }
            walk(ds, "", rec["elements"])
        except Exception as e:  # every failure is reported, none stops the run
            rec["error"] = "%s: %s" % (type(e).__name__, e)
        print(json.dumps(rec))


if __name__ == "__main__":
    main()
