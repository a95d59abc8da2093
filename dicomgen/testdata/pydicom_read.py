# Reads every file named on the command line with pydicom (no numpy
# needed) and prints one JSON object per file: the attributes dicomgen's
# tests compare with what Write reported.
import json
import sys

import pydicom

for path in sys.argv[1:]:
    ds = pydicom.dcmread(path)  # strict Part 10: preamble, DICM, meta group
    out = {
        "path": path,
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
        "meta_sop_instance": str(ds.file_meta.MediaStorageSOPInstanceUID),
        "sop_class": str(ds.SOPClassUID),
        "sop_instance": str(ds.SOPInstanceUID),
        "study": str(ds.StudyInstanceUID),
        "series": str(ds.SeriesInstanceUID),
        "modality": ds.Modality,
        "patient_name": str(ds.PatientName),
        "patient_id": ds.PatientID,
        "institution": str(ds.InstitutionName),
        "charset": "\\".join(ds.SpecificCharacterSet) if "SpecificCharacterSet" in ds and not isinstance(ds.SpecificCharacterSet, str) else str(ds.get("SpecificCharacterSet", "")),
        "rows": ds.Rows,
        "columns": ds.Columns,
        "bits_allocated": ds.BitsAllocated,
        "encapsulated": ds.file_meta.TransferSyntaxUID.is_compressed,
        "fragments": 0,
    }
    if out["encapsulated"]:
        from pydicom.encaps import generate_pixel_data_fragment
        from pydicom.filebase import DicomBytesIO

        fp = DicomBytesIO(ds.PixelData)
        fp.is_little_endian = True
        out["fragments"] = sum(1 for _ in generate_pixel_data_fragment(fp)) - 1  # minus the offset table
    else:
        out["pixel_bytes"] = len(ds.PixelData)
    print(json.dumps(out, ensure_ascii=False))
