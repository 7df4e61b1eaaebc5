#!/usr/bin/env python3
"""Split a classic pcap into files of about MB megabytes each, as `tcpdump -C MB` rotates.

    split_pcap.py IN OUTDIR MB

Every part gets IN's file header and whole records (a part ends with the first record that
takes it to MB * 10^6 bytes or more); parts are OUTDIR/part-0000.pcap, part-0001.pcap, ...
For benchmarks of rotated sets (`scripts/throughput.sh`): the records and their order are
IN's, so `wirehouse analyze --merge OUTDIR` has the same connections and requests as IN.
"""
import os
import struct
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, out, mb = sys.argv[1], sys.argv[2], float(sys.argv[3])
    limit = int(mb * 1e6)
    os.makedirs(out, exist_ok=True)
    with open(src, "rb") as f:
        header = f.read(24)
        magic = header[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            order = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            order = ">"
        else:
            sys.exit(f"{src}: not a classic pcap (magic {magic.hex()}); pcapng is not split here")
        part, size, dst = 0, 0, None
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            (incl,) = struct.unpack(order + "I", rec[8:12])
            data = f.read(incl)
            if len(data) < incl:
                break  # a cut last record stays out, as tcpdump never writes one
            if dst is None:
                dst = open(os.path.join(out, f"part-{part:04d}.pcap"), "wb")
                dst.write(header)
                size = 24
            dst.write(rec)
            dst.write(data)
            size += 16 + incl
            if size >= limit:
                dst.close()
                dst, part = None, part + 1
        if dst is not None:
            dst.close()


if __name__ == "__main__":
    main()
