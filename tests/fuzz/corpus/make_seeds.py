#!/usr/bin/env python3
"""Writes the seeds of fuzz_cdb (corpus/cdb) and fuzz_session (corpus/session); run from anywhere.
The input formats are described at the top of tests/fuzz/fuzz_cdb.cpp and fuzz_session.cpp."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def cdb_record(ctl, selector, cdb_rest, expected=0, data=b""):
    """One fuzz_cdb record: ctl, selector, CDB bytes 1-15, expected length, data length, data."""
    rest = bytes(cdb_rest).ljust(15, b"\0")[:15]
    return bytes([ctl, selector]) + rest + struct.pack(">HH", expected, len(data)) + data


RAW = 0x08  # ctl: the selector is the opcode itself
cdb_seeds = {
    # READ(10) LBA 0, 8 blocks; then WRITE(10) 1 block with data; then READ(16)
    "read_write": b"\0" + cdb_record(RAW, 0x28, [0, 0, 0, 0, 0, 0, 0, 8]) +
    cdb_record(RAW, 0x2a, [0, 0, 0, 0, 4, 0, 0, 1], 512, bytes(range(256)) * 2) +
    cdb_record(RAW, 0x88, [0] * 12 + [8], 0),
    # INQUIRY VPD 0x83 and 0xb0, REPORT LUNS, REPORT SUPPORTED OPERATION CODES, on the thin LUN
    "spc": b"\0" + cdb_record(RAW | 1, 0x12, [1, 0x83, 0, 255]) + cdb_record(RAW | 1, 0x12, [1, 0xb0, 0, 255]) +
    cdb_record(RAW, 0xa0, [0, 0, 0, 0, 0, 0, 0, 1, 0]) + cdb_record(RAW, 0xa3, [0x0c, 0, 0, 0, 0, 0, 0x10, 0]),
    # UNMAP on the thin LUN (one descriptor, LBA 8, 16 blocks), then GET LBA STATUS (deferred completions)
    "unmap": b"\x01" + cdb_record(RAW | 1, 0x42, [0, 0, 0, 0, 0, 0, 24], 24,
                                  struct.pack(">HH4x", 22, 16) + struct.pack(">QI4x", 8, 16)) +
    cdb_record(RAW | 1, 0x9e, [0x12] + [0] * 11 + [0x40]),
    # WRITE SAME(16) over the whole LU, MODE SENSE(6) all pages, MODE SELECT(6) with a header only
    "write_same_mode": b"\0" + cdb_record(RAW, 0x93, [0] * 12 + [64], 512, b"\xa5" * 512) +
    cdb_record(RAW, 0x1a, [0, 0x3f, 0, 255]) + cdb_record(RAW | 0x10, 0x15, [0x10, 0, 0, 4], 1, bytes(4)),
    # EXTENDED COPY(LID1) of 8 blocks within LUN 0 (an E4h descriptor naming it by NAA, one 02h
    # segment, LIST ID 1 held), then RECEIVE COPY RESULTS COPY STATUS and OPERATING PARAMETERS,
    # and the Third-party Copy VPD page
    "extended_copy": b"\x01" + cdb_record(RAW, 0x83, [0] * 12 + [76], 76,
                                           bytes([1, 0]) + struct.pack(">H4xII", 32, 28, 0) +
                                           bytes([0xe4, 0, 0, 0, 0x01, 0x03, 0, 8]) +
                                           struct.pack(">Q", 0x6001405123456789) + bytes(12) + bytes([0, 0, 2, 0]) +
                                           bytes([0x02, 0, 0, 0x18]) + struct.pack(">HH2xH", 0, 0, 8) +
                                           struct.pack(">QQ", 0, 16)) +
    cdb_record(RAW, 0x84, [0x00, 1] + [0] * 10 + [12]) + cdb_record(RAW, 0x84, [0x03] + [0] * 11 + [64]) +
    cdb_record(RAW, 0x12, [1, 0x8f, 0, 255]),
    # RESERVE(6) on nexus 1, then a WRITE(10) from nexus 2, then an unknown opcode
    "reserve_conflict": b"\0" + cdb_record(RAW, 0x16, []) +
    cdb_record(RAW | 4, 0x2a, [0, 0, 0, 0, 0, 0, 0, 1], 512, b"\x11" * 512) + cdb_record(RAW, 0xc5, []),
}


def pdu(kind, flags, lun=0, delta=0, fields=b"", data=b""):
    """One fuzz_session PDU: kind, flags, LUN, CmdSN delta, the kind's fields, data length, data."""
    assert len(data) < 240
    return bytes([kind, flags, lun, delta]) + fields + bytes([len(data)]) + data


WAIT = 0x80  # kind: read the answers before the next PDU
session_seeds = {
    # default login, READ(10) 8 blocks (EDTL 4096: 0x1000 << 0; selector 1 = READ(10), LBA 0, 8 blocks)
    "read": b"\x01" + pdu(0x01, 0xc0, fields=b"\x10\x00\x00" + bytes([1, 0, 8])),
    # InitialR2T=Yes: WRITE(10) 2 blocks without data, wait for the R2T, then the Data-Out for it
    "write_r2t": b"\x41" + pdu(WAIT | 0x01, 0xa0, fields=b"\x04\x00\x00" + bytes([2, 0, 2])) +
    pdu(WAIT | 0x05, 0x80, fields=b"\x00", data=bytes(200)),
    # NOP-Out ping with data, a Text Request SendTargets=All, then logout
    "nop_text_logout": b"\x01" + pdu(0x08, 0x80, data=b"ping") +
    pdu(0x0c, 0x80, fields=bytes(6), data=b"SendTargets=All\0") + pdu(0x0e, 0x80),
    # header and data digests: ABORT TASK for a command outside the window, then a SNACK
    "digests_tmf": b"\x19" + pdu(0x01, 0xc0, delta=0x90, fields=b"\x10\x00\x00" + bytes([1, 0, 1])) +
    pdu(0x1a, 0x81) + pdu(0x07, 0x80, fields=bytes(6)),
    # a login from the input: CSG=1 NSG=3 T=1 with too few keys
    "raw_login": b"\x00\x87\x00\x00" + bytes([len(b"InitiatorName=iqn.x\0")]) + b"InitiatorName=iqn.x\0",
}

for name, seeds in (("cdb", cdb_seeds), ("session", session_seeds)):
    os.makedirs(os.path.join(here, name), exist_ok=True)
    for seed, content in seeds.items():
        with open(os.path.join(here, name, seed), "wb") as f:
            f.write(content)
