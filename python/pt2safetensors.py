#!/usr/bin/env python3
"""Convert PyTorch state_dicts to safetensors and back, with no pip package.

    pt2safetensors.py model.pt model.safetensors        # one file
    pt2safetensors.py run/ckpts/ out/                   # every *.pt of a folder
    pt2safetensors.py model.safetensors model.pt        # the reverse

A folder converts each NAME.pt into OUT/NAME.safetensors (ckpt-7.pt →
ckpt-7.safetensors), ready for `ltransfer trajectory import --from OUT`.
Nothing is overwritten unless --force; each output is written to a
temporary file and renamed, so a failed run leaves no half-written file.

The .pt may hold a state_dict, a dict with one under "state_dict", "model",
"model_state_dict" or "net" (--key picks another), or a whole nn.Module
(needs --trust-pickle: loading it runs pickled code). --strip-prefix
removes a prefix such as "module." (DataParallel) from every name.

The safetensors format is written by hand (json + numpy): an 8-byte
little-endian header length, a JSON header {name: {dtype, shape,
data_offsets}, "__metadata__": {...}} padded with spaces to 8 bytes, then
the tensors' bytes, little-endian, C order, back to back. Reading needs only
numpy (load_safetensors); torch is needed to read .pt files and for
load_state_dict.
"""

import argparse
import json
import os
import struct
import sys
import tempfile

import numpy as np

# numpy dtype ↔ safetensors dtype. BF16 has no numpy type: it travels as
# raw uint16 and becomes torch.bfloat16 (load_state_dict) or float32
# (load_safetensors).
_NP_TO_ST = {
    np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16",
    np.dtype("<i8"): "I64", np.dtype("<i4"): "I32", np.dtype("<i2"): "I16", np.dtype("i1"): "I8",
    np.dtype("<u8"): "U64", np.dtype("<u4"): "U32", np.dtype("<u2"): "U16", np.dtype("u1"): "U8",
    np.dtype("?"): "BOOL",
}
_ST_TO_NP = {v: k for k, v in _NP_TO_ST.items()}
_ST_TO_NP["BF16"] = np.dtype("<u2")

_STATE_DICT_KEYS = ("state_dict", "model", "model_state_dict", "net")
_MAX_HEADER = 100 << 20


def _to_numpy(name, t):
    """A tensor (torch or numpy) as (safetensors dtype, C-contiguous little-endian array)."""
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and isinstance(t, torch.Tensor):
        if t.is_sparse or t.layout != torch.strided:
            raise ValueError("tensor %r is not dense (layout %s)" % (name, t.layout))
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            return "BF16", t.view(torch.int16).numpy().view("<u2")
        t = t.numpy()
    if not isinstance(t, np.ndarray):
        raise ValueError("entry %r is a %s, not a tensor" % (name, type(t).__name__))
    a = t if t.flags.c_contiguous else np.array(t, order="C")  # ascontiguousarray makes 0-d arrays 1-d
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    st = _NP_TO_ST.get(np.dtype(a.dtype.str))
    if st is None:
        raise ValueError("tensor %r has dtype %s, which safetensors cannot hold" % (name, a.dtype))
    return st, a


def _write_atomic(path, write, force):
    if os.path.exists(path) and not force:
        raise FileExistsError("%s exists (use --force to overwrite)" % path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_safetensors(tensors, path, metadata=None, force=False):
    """Write a name → tensor mapping (torch or numpy) as safetensors, in
    the mapping's order."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise ValueError("tensor name %r is not a string" % (name,))
        st, a = _to_numpy(name, t)
        b = a.tobytes()
        header[name] = {"dtype": st, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)

    def write(f):
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)

    _write_atomic(path, write, force)


def _read(path):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError("%s: %d bytes, too short for a safetensors file" % (path, len(buf)))
    (n,) = struct.unpack("<Q", buf[:8])
    if n > min(_MAX_HEADER, len(buf) - 8):
        raise ValueError("%s: header length %d does not fit the %d-byte file (not safetensors?)" % (path, n, len(buf)))
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = memoryview(buf)[8 + n:]
    meta = header.pop("__metadata__", None) or {}
    out = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        st = e["dtype"]
        if st not in _ST_TO_NP:
            raise ValueError("%s: tensor %r has unsupported dtype %s" % (path, name, st))
        dt = _ST_TO_NP[st]
        b, end = e["data_offsets"]
        shape = tuple(int(d) for d in e["shape"])
        count = int(np.prod(shape)) if shape else 1
        if not 0 <= b <= end <= len(data) or end - b != count * dt.itemsize:
            raise ValueError("%s: tensor %r: data_offsets %s do not fit %s %s" % (path, name, e["data_offsets"], st, list(shape)))
        out[name] = (st, np.frombuffer(data[b:end], dtype=dt).reshape(shape).copy())
    return out, meta


def load_safetensors(path):
    """A safetensors file as {name: numpy array}, in file order (BF16
    widened to float32)."""
    out = {}
    for name, (st, a) in _read(path)[0].items():
        if st == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a
    return out


def load_state_dict(path):
    """A safetensors file as a state_dict of torch tensors, for
    model.load_state_dict(..., strict=True)."""
    import torch
    sd = {}
    for name, (st, a) in _read(path)[0].items():
        if st == "BF16":
            sd[name] = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        elif st in ("U16", "U32", "U64"):
            sd[name] = torch.from_numpy(a.astype(np.int64))
        else:
            sd[name] = torch.from_numpy(a)
    return sd


def read_pt(path, key=None, strip_prefix="", trust_pickle=False):
    """The state_dict inside a .pt file (see the module doc)."""
    import torch
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except TypeError:  # torch < 1.13 has no weights_only
        obj = torch.load(path, map_location="cpu")
    except Exception as e:
        if trust_pickle:
            raise
        raise ValueError("%s: not a plain state_dict (%s); if you trust the file, pass --trust-pickle" % (path, str(e).splitlines()[0]))
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise ValueError("%s: no entry %r (top-level keys: %s)" % (path, key, ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__))
        obj = obj[key]
    elif isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for k in _STATE_DICT_KEYS:
            if isinstance(obj.get(k), dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not obj:
        raise ValueError("%s: holds no state_dict (a %s)" % (path, type(obj).__name__))
    sd = {}
    for name, t in obj.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError("%s: entry %r is a %s, not a tensor (use --key to pick the state_dict)" % (path, name, type(t).__name__))
        if strip_prefix and name.startswith(strip_prefix):
            name = name[len(strip_prefix):]
        if name in sd:
            raise ValueError("%s: two entries are named %r after stripping %r" % (path, name, strip_prefix))
        sd[name] = t
    return sd


def convert(src, dst, key=None, strip_prefix="", trust_pickle=False, force=False):
    """Convert one file; the direction follows the extension of src."""
    if src.endswith(".safetensors"):
        import torch
        sd = load_state_dict(src)

        def write(f):
            torch.save(sd, f)

        _write_atomic(dst, write, force)
        return len(sd)
    sd = read_pt(src, key, strip_prefix, trust_pickle)
    save_safetensors(sd, dst, metadata={"source": os.path.basename(src)}, force=force)
    return len(sd)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="a .pt file, a .safetensors file (reverse), or a folder of .pt files")
    ap.add_argument("dst", help="the output file, or folder for a folder")
    ap.add_argument("--key", help="entry of the .pt that holds the state_dict")
    ap.add_argument("--strip-prefix", default="", help="remove this prefix from every name (e.g. module.)")
    ap.add_argument("--trust-pickle", action="store_true", help="allow .pt files that need arbitrary unpickling (whole modules)")
    ap.add_argument("--force", action="store_true", help="overwrite existing outputs")
    a = ap.parse_args(argv)
    try:
        if os.path.isdir(a.src):
            names = sorted(n for n in os.listdir(a.src) if n.endswith(".pt") or n.endswith(".pth"))
            if not names:
                raise ValueError("%s holds no .pt or .pth files" % a.src)
            outs = [os.path.join(a.dst, os.path.splitext(n)[0] + ".safetensors") for n in names]
            if not a.force:
                for out in outs:
                    if os.path.exists(out):
                        raise FileExistsError("%s exists (use --force to overwrite)" % out)
            os.makedirs(a.dst, exist_ok=True)
            for n, out in zip(names, outs):
                k = convert(os.path.join(a.src, n), out, a.key, a.strip_prefix, a.trust_pickle, a.force)
                print("%s: %d tensors → %s" % (n, k, out))
        else:
            k = convert(a.src, a.dst, a.key, a.strip_prefix, a.trust_pickle, a.force)
            print("%s: %d tensors → %s" % (a.src, k, a.dst))
    except (ValueError, FileExistsError, OSError, KeyError) as e:
        print("pt2safetensors: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
