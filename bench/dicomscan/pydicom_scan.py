"""Read the header of every file named on stdin with pydicom, as
dicomscan does: dcmread(stop_before_pixels=True) and the 26 attributes of
the Aura uploader. Prints the number of files read."""
import sys

import pydicom

TAGS = [0x00100010, 0x00100020, 0x00101000, 0x00100030, 0x00100040, 0x00100021,
        0x00080090, 0x00080081, 0x00081030, 0x00181030, 0x00080050, 0x00200010,
        0x00080020, 0x00080030, 0x00080201, 0x0008103E, 0x00200011, 0x00080060,
        0x00180015, 0x00080021, 0x00080031, 0x0020000D, 0x0020000E, 0x00080018,
        0x00080016, 0x00080080]

n = 0
for line in sys.stdin:
    path = line.rstrip("\n")
    if not path:
        continue
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    for t in TAGS:
        e = ds.get(t)
        if e is not None:
            str(e.value)
    n += 1
print(n)
