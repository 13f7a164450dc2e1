"""Hand-built iSCSI PDUs for the hostile-client tests: a BHS packer, a PDU reader and a minimal
session (login, SCSI command, logout). Not a second stack: just enough to send well-formed and
malformed bytes and to recognise what the target answers. Layouts from RFC 7143 §11."""
import socket
import struct
import time

# RFC 7143 §11.1.1 opcodes
OP_NOP_OUT, OP_SCSI_CMD, OP_TMF, OP_LOGIN, OP_TEXT, OP_DATA_OUT, OP_LOGOUT = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
OP_NOP_IN, OP_SCSI_RSP, OP_LOGIN_RSP, OP_DATA_IN, OP_LOGOUT_RSP, OP_R2T, OP_ASYNC, OP_REJECT = (
    0x20, 0x21, 0x23, 0x25, 0x26, 0x31, 0x32, 0x3F)
IMMEDIATE = 0x40
RESERVED_TAG = 0xFFFFFFFF
INITIATOR_NAME = "iqn.2026-11.org.iscsikit:hostile-client"
STAGE_SECURITY, STAGE_OPERATIONAL, STAGE_FFP = 0, 1, 3


def pad4(data: bytes) -> bytes:
    # RFC 7143 §11.1: the data segment is padded to a multiple of 4 bytes
    return data + b"\0" * (-len(data) % 4)


def text(pairs) -> bytes:
    # RFC 7143 §6.1: key=value pairs, each terminated by a NUL
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs)


def bhs(opcode, *, immediate=False, flags=0, b2=0, b3=0, ahs_len=0, data_len=0, lun=b"\0" * 8,
        itt=0, rest=b"") -> bytes:
    """48-byte BHS: byte 0 I|opcode, byte 1 flags, bytes 2-3 opcode-specific, byte 4 TotalAHSLength,
    bytes 5-7 DataSegmentLength, 8-15 LUN/ISID, 16-19 ITT, 20-47 opcode-specific (`rest`)."""
    head = struct.pack(">BBBBB", (IMMEDIATE if immediate else 0) | opcode, flags, b2, b3, ahs_len)
    head += data_len.to_bytes(3, "big") + lun + struct.pack(">I", itt)
    assert len(rest) <= 28
    return head + rest + b"\0" * (28 - len(rest))


def login_request(data=b"", *, transit=True, cont=False, csg=STAGE_SECURITY, nsg=STAGE_OPERATIONAL,
                  isid=b"\x80\x12\x34\x56\x00\x01", tsih=0, itt=1, cid=0, cmdsn=0, exp_statsn=0,
                  data_len=None) -> bytes:
    # RFC 7143 §11.12: T C . . CSG NSG, Version-max/min 0, ISID, TSIH, ITT, CID, CmdSN, ExpStatSN
    flags = (0x80 if transit else 0) | (0x40 if cont else 0) | (csg << 2) | (nsg if transit else 0)
    rest = struct.pack(">HHII", cid, 0, cmdsn, exp_statsn)
    header = bhs(OP_LOGIN, immediate=True, flags=flags, data_len=len(data) if data_len is None else data_len,
                 lun=isid + struct.pack(">H", tsih), itt=itt, rest=rest)
    return header + pad4(data)


def scsi_command(cdb: bytes, *, lun=0, itt=2, edtl=0, read=True, write=False, cmdsn=1, exp_statsn=0,
                 data_len=0) -> bytes:
    # RFC 7143 §11.3: F R W ATTR(simple=1), LUN, ITT, EDTL, CmdSN, ExpStatSN, CDB (16 bytes)
    flags = 0x80 | (0x40 if read and edtl else 0) | (0x20 if write else 0) | 0x01
    rest = struct.pack(">III", edtl, cmdsn, exp_statsn) + cdb.ljust(16, b"\0")
    return bhs(OP_SCSI_CMD, flags=flags, data_len=data_len, lun=struct.pack(">HHI", lun & 0x3FFF, 0, 0),
               itt=itt, rest=rest)


def nop_out(*, itt=3, ttt=RESERVED_TAG, cmdsn=1, exp_statsn=0, immediate=True, lun=b"\0" * 8) -> bytes:
    # RFC 7143 §11.18: F=1, ITT, TTT, CmdSN, ExpStatSN
    return bhs(OP_NOP_OUT, immediate=immediate, flags=0x80, lun=lun, itt=itt,
               rest=struct.pack(">III", ttt, cmdsn, exp_statsn))


def logout_request(*, itt=4, cid=0, cmdsn=1, exp_statsn=0, reason=0) -> bytes:
    # RFC 7143 §11.14: F=1 | reason code (0: close the session), ITT, CID, CmdSN, ExpStatSN
    return bhs(OP_LOGOUT, immediate=True, flags=0x80 | reason, itt=itt,
               rest=struct.pack(">HHII", cid, 0, cmdsn, exp_statsn))


class Pdu:
    def __init__(self, header: bytes, data: bytes):
        self.header, self.data = header, data
        self.opcode = header[0] & 0x3F
        self.flags = header[1]
        self.itt = struct.unpack_from(">I", header, 16)[0]

    def u32(self, offset):
        return struct.unpack_from(">I", self.header, offset)[0]

    @property
    def status_class(self):  # Login Response, RFC 7143 §11.13.5
        return self.header[36]

    @property
    def status_detail(self):
        return self.header[37]

    def keys(self):
        return dict(p.split("=", 1) for p in self.data.rstrip(b"\0").decode(errors="replace").split("\0") if "=" in p)

    def __repr__(self):
        return f"Pdu(opcode=0x{self.opcode:02x}, flags=0x{self.flags:02x}, data={len(self.data)}B)"


class Closed(Exception):
    """The peer closed (FIN or RST)."""


def sense_key(sense: bytes):
    # SPC-4 4.5: fixed format (0x70/0x71) key in byte 2, descriptor format (0x72/0x73) in byte 1
    if len(sense) >= 3 and sense[0] & 0x7F in (0x70, 0x71):
        return sense[2] & 0x0F
    if len(sense) >= 2 and sense[0] & 0x7F in (0x72, 0x73):
        return sense[1] & 0x0F
    return None


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except ConnectionResetError as e:
            raise Closed("reset") from e
        if not chunk:
            raise Closed("eof")
        buf += chunk
    return bytes(buf)


def read_pdu(sock) -> Pdu:
    header = recv_exact(sock, 48)
    ahs_len = header[4] * 4
    data_len = int.from_bytes(header[5:8], "big")
    if ahs_len:
        recv_exact(sock, ahs_len)
    data = recv_exact(sock, data_len + (-data_len % 4))[:data_len]
    return Pdu(header, data)


def await_verdict(sock, timeout):
    """What the target did with a bad connection within `timeout` seconds: "closed" (FIN/RST),
    "login-failed" (Login Response with a non-zero status class), "reject" (Reject PDU),
    "login-accepted" (a success Login Response: wrong for a bad login) or "open" (nothing)."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "open"
            sock.settimeout(left)
            try:
                pdu = read_pdu(sock)
            except socket.timeout:
                return "open"
            if pdu.opcode == OP_LOGIN_RSP:
                return "login-failed" if pdu.status_class != 0 else "login-accepted"
            if pdu.opcode == OP_REJECT:
                return "reject"
            # anything else (NOP-In, Async) is not an answer: keep waiting
    except (Closed, OSError):
        return "closed"


class Session:
    """A minimal normal session on one connection: login without authentication, SCSI commands
    with the data coming back in Data-In PDUs, logout. Raises on anything unexpected."""

    def __init__(self, host, port, target_iqn, *, timeout=10.0, isid=b"\x80\x00\x00\x00\x42\x01"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.target_iqn, self.isid = target_iqn, isid
        self.cmdsn, self.exp_statsn, self.itt = 0, 0, 0x100
        self.negotiated = {}  # the target's answers during login

    def close(self):
        self.sock.close()

    def _next_itt(self):
        self.itt += 1
        return self.itt

    def _read(self):
        while True:
            pdu = read_pdu(self.sock)
            if pdu.opcode == OP_NOP_IN and pdu.u32(20) != RESERVED_TAG:
                # RFC 7143 §11.19: a NOP-In with a valid TTT asks for a NOP-Out echoing it
                self.exp_statsn = pdu.u32(24)
                self.sock.sendall(nop_out(itt=RESERVED_TAG, ttt=pdu.u32(20), cmdsn=self.cmdsn,
                                          exp_statsn=self.exp_statsn, lun=pdu.header[8:16]))
                continue
            if pdu.opcode in (OP_NOP_IN, OP_ASYNC):
                continue
            return pdu

    def login(self):
        # RFC 7143 §6.3: security stage (no authentication), then operational, then full feature
        stages = [
            (STAGE_SECURITY, STAGE_OPERATIONAL,
             [("InitiatorName", INITIATOR_NAME), ("TargetName", self.target_iqn),
              ("SessionType", "Normal"), ("AuthMethod", "None")]),
            (STAGE_OPERATIONAL, STAGE_FFP,
             [("HeaderDigest", "None"), ("DataDigest", "None"), ("MaxRecvDataSegmentLength", "262144"),
              ("InitialR2T", "Yes"), ("ImmediateData", "Yes"), ("ErrorRecoveryLevel", "0")]),
        ]
        itt = self._next_itt()
        tsih = 0
        for csg, nsg, pairs in stages:
            self.sock.sendall(login_request(text(pairs), csg=csg, nsg=nsg, isid=self.isid, tsih=tsih,
                                            itt=itt, cmdsn=self.cmdsn, exp_statsn=self.exp_statsn))
            while True:
                rsp = self._read()
                if rsp.opcode != OP_LOGIN_RSP:
                    raise AssertionError(f"expected a Login Response, got {rsp}")
                if rsp.status_class != 0:
                    raise AssertionError(f"login failed: class {rsp.status_class} detail {rsp.status_detail}")
                self.exp_statsn = rsp.u32(24) + 1
                self.negotiated.update(rsp.keys())
                tsih = struct.unpack_from(">H", rsp.header, 14)[0]
                if rsp.flags & 0x80:  # T bit: the target agreed to move to NSG
                    break
                # the target wants another round in this stage: resend with no new keys
                self.sock.sendall(login_request(b"", csg=csg, nsg=nsg, isid=self.isid, tsih=tsih, itt=itt,
                                                cmdsn=self.cmdsn, exp_statsn=self.exp_statsn))
        self.tsih = tsih
        self.cmdsn = rsp.u32(28)  # ExpCmdSN: login PDUs are immediate and do not advance CmdSN
        return tsih

    def command(self, cdb: bytes, edtl: int, lun=0, data_out: bytes = b""):
        """Sends one read-type (or no-data) SCSI command, retrying past unit attentions (the first
        command of a new I_T nexus reports one, SAM-5 5.14); returns (status, data, sense)."""
        for _ in range(4):
            status, data, sense = self._command_once(cdb, edtl, lun, data_out)
            if not (status == 0x02 and sense_key(sense) == 0x06):
                break
        return status, data, sense

    def _command_once(self, cdb: bytes, edtl: int, lun, data_out: bytes):
        itt = self._next_itt()
        immediate = b""
        if data_out and self.negotiated.get("ImmediateData") == "Yes":
            limit = min(int(self.negotiated.get("FirstBurstLength", "65536")),
                        int(self.negotiated.get("MaxRecvDataSegmentLength", "8192")))
            immediate = data_out[:limit]
        header = scsi_command(cdb, lun=lun, itt=itt, edtl=edtl, read=not data_out, write=bool(data_out),
                              cmdsn=self.cmdsn, exp_statsn=self.exp_statsn, data_len=len(immediate))
        self.sock.sendall(header + pad4(immediate))
        self.cmdsn += 1
        data = bytearray()
        while True:
            pdu = self._read()
            if pdu.opcode == OP_DATA_IN and pdu.itt == itt:
                data += pdu.data
                if pdu.flags & 0x01:  # S bit: status rides in the final Data-In (RFC 7143 §11.7.1)
                    self.exp_statsn = pdu.u32(24) + 1
                    return pdu.header[3], bytes(data), b""
            elif pdu.opcode == OP_R2T and pdu.itt == itt:
                # RFC 7143 §11.8: send DesiredDataTransferLength bytes from BufferOffset
                self._send_data_out(data_out, itt, lun, ttt=pdu.u32(20), offset=pdu.u32(40), length=pdu.u32(44))
            elif pdu.opcode == OP_SCSI_RSP and pdu.itt == itt:
                self.exp_statsn = pdu.u32(24) + 1
                sense = pdu.data[2:] if len(pdu.data) >= 2 else b""
                return pdu.header[3], bytes(data), sense
            else:
                raise AssertionError(f"unexpected PDU during a command: {pdu}")

    def _send_data_out(self, data_out, itt, lun, *, ttt, offset, length):
        chunk_max = int(self.negotiated.get("MaxRecvDataSegmentLength", "8192"))
        end = offset + length
        data_sn = 0
        while offset < end:
            chunk = data_out[offset:min(end, offset + chunk_max)]
            final = offset + len(chunk) >= end
            # RFC 7143 §11.7: F, LUN, ITT, TTT, ExpStatSN, DataSN, BufferOffset
            rest = struct.pack(">IIIIII", ttt, 0, self.exp_statsn, 0, data_sn, offset)
            self.sock.sendall(bhs(OP_DATA_OUT, flags=0x80 if final else 0, data_len=len(chunk),
                                  lun=struct.pack(">HHI", lun & 0x3FFF, 0, 0), itt=itt, rest=rest) + pad4(chunk))
            offset += len(chunk)
            data_sn += 1

    def inquiry(self, lun=0):
        status, data, _ = self.command(bytes([0x12, 0, 0, 0, 96, 0]), 96, lun)
        if status != 0:
            raise AssertionError(f"INQUIRY status 0x{status:02x}")
        return data

    def read_capacity16(self, lun=0):
        cdb = bytes([0x9E, 0x10]) + b"\0" * 8 + struct.pack(">I", 32) + b"\0\0"
        status, data, _ = self.command(cdb, 32, lun)
        if status != 0:
            raise AssertionError(f"READ CAPACITY(16) status 0x{status:02x}")
        last_lba, block = struct.unpack_from(">QI", data)
        return (last_lba + 1) * block, block

    def read10(self, lba, blocks, block_size, lun=0):
        cdb = struct.pack(">BBIBHB", 0x28, 0, lba, 0, blocks, 0)
        status, data, _ = self.command(cdb, blocks * block_size, lun)
        if status != 0 or len(data) != blocks * block_size:
            raise AssertionError(f"READ(10) status 0x{status:02x}, {len(data)} bytes")
        return data

    def write10(self, lba, data: bytes, block_size, lun=0):
        """Returns (status, sense): a write may be refused (read-only LUN)."""
        cdb = struct.pack(">BBIBHB", 0x2A, 0, lba, 0, len(data) // block_size, 0)
        status, _, sense = self.command(cdb, len(data), lun, data_out=data)
        return status, sense

    def mode_sense6_write_protected(self, lun=0):
        # SBC-3 6.5.1: the WP bit is bit 7 of the device-specific parameter (header byte 2)
        status, data, _ = self.command(bytes([0x1A, 0, 0x3F, 0, 192, 0]), 192, lun)
        if status != 0:
            raise AssertionError(f"MODE SENSE(6) status 0x{status:02x}")
        return bool(data[2] & 0x80)

    def logout(self):
        self.sock.sendall(logout_request(itt=self._next_itt(), cmdsn=self.cmdsn, exp_statsn=self.exp_statsn))
        rsp = self._read()
        if rsp.opcode != OP_LOGOUT_RSP or rsp.header[2] != 0:
            raise AssertionError(f"logout failed: {rsp}")
        self.close()
