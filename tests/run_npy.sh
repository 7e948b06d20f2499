#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_npy.sh: `aule run` on .npy files written and read by plain Python (no
# NumPy needed), compared with attention computed in Python: BHSD and BSHD
# layouts, LSE, a causal override, and bad input (wrong dtype, missing file).
#   run_npy.sh AULE SOURCE_DIR
set -u
aule=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export AULE_CACHE_DIR=$tmp/cache
cat > "$tmp/spec.lua" <<'LUA'
attention { name = "small", head_dim = 8, gqa = 2, dtype = "f32" }
LUA
cat > "$tmp/npy.py" <<'PY'
import math, random, struct, sys

def write(path, shape, values, dtype='<f4'):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        dtype, ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), "d" if dtype == "<f8" else "f"), *values))

def read(path):
    data = open(path, "rb").read()
    assert data[:6] == b"\x93NUMPY", "not an npy file"
    hl = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hl].decode()
    assert "'<f4'" in header, header
    shape = tuple(int(x) for x in header.split("(")[1].split(")")[0].split(",") if x.strip())
    n = 1
    for s in shape:
        n *= s
    return shape, struct.unpack("<%df" % n, data[10 + hl:10 + hl + 4 * n])

def attention(q, k, v, B, H, HKV, SQ, SK, D, causal):
    out, lse = [0.0] * (B * H * SQ * D), [0.0] * (B * H * SQ)
    g = H // HKV
    for b in range(B):
        for h in range(H):
            for i in range(SQ):
                qi = [q[((b * H + h) * SQ + i) * D + d] for d in range(D)]
                s = []
                for j in range(SK):
                    if causal and j > i + SK - SQ:
                        continue
                    kj = [k[((b * HKV + h // g) * SK + j) * D + d] for d in range(D)]
                    s.append((j, sum(a * c for a, c in zip(qi, kj)) / math.sqrt(D)))
                m = max(x for _, x in s)
                w = [(j, math.exp(x - m)) for j, x in s]
                tot = sum(x for _, x in w)
                lse[(b * H + h) * SQ + i] = m + math.log(tot)
                for d in range(D):
                    out[((b * H + h) * SQ + i) * D + d] = sum(
                        x * v[((b * HKV + h // g) * SK + j) * D + d] for j, x in w) / tot
    return out, lse

def to_bshd(x, B, H, S, D):
    y = [0.0] * len(x)
    for b in range(B):
        for h in range(H):
            for s in range(S):
                for d in range(D):
                    y[((b * S + s) * H + h) * D + d] = x[((b * H + h) * S + s) * D + d]
    return y

mode, tmp = sys.argv[1], sys.argv[2]
B, H, HKV, SQ, SK, D = 2, 4, 2, 5, 7, 8
rnd = random.Random(7)
q = [rnd.uniform(-1, 1) for _ in range(B * H * SQ * D)]
k = [rnd.uniform(-1, 1) for _ in range(B * HKV * SK * D)]
v = [rnd.uniform(-1, 1) for _ in range(B * HKV * SK * D)]
q, k, v = ([struct.unpack("<f", struct.pack("<f", x))[0] for x in t] for t in (q, k, v))
if mode == "write":
    write(tmp + "/q.npy", (B, H, SQ, D), q)
    write(tmp + "/k.npy", (B, HKV, SK, D), k)
    write(tmp + "/v.npy", (B, HKV, SK, D), v)
    write(tmp + "/qs.npy", (B, SQ, H, D), to_bshd(q, B, H, SQ, D))
    write(tmp + "/ks.npy", (B, SK, HKV, D), to_bshd(k, B, HKV, SK, D))
    write(tmp + "/vs.npy", (B, SK, HKV, D), to_bshd(v, B, HKV, SK, D))
    write(tmp + "/bad.npy", (B, H, SQ, D), q, "<f8")
else:
    causal = mode.endswith("causal")
    ref, ref_lse = attention(q, k, v, B, H, HKV, SQ, SK, D, causal)
    shape, got = read(tmp + "/o.npy")
    if mode.startswith("bshd"):
        assert shape == (B, SQ, H, D), shape
        ref = to_bshd(ref, B, H, SQ, D)
    else:
        assert shape == (B, H, SQ, D), shape
    err = max(abs(a - b) for a, b in zip(ref, got))
    lshape, lse = read(tmp + "/lse.npy")
    assert lshape == (B, H, SQ), lshape
    lerr = max(abs(a - b) for a, b in zip(ref_lse, lse))
    print("%s: max |O - ref| %.2e, max |LSE - ref| %.2e" % (mode, err, lerr))
    sys.exit(0 if err < 1e-5 and lerr < 1e-5 else 1)
PY
python3 "$tmp/npy.py" write "$tmp" || fail "writing inputs"
"$aule" run --spec "$tmp/spec.lua" --q "$tmp/q.npy" --k "$tmp/k.npy" --v "$tmp/v.npy" --out "$tmp/o.npy" \
    --lse "$tmp/lse.npy" || fail "aule run (BHSD)"
python3 "$tmp/npy.py" bhsd "$tmp" || fail "BHSD result"
"$aule" run --spec "$tmp/spec.lua" --q "$tmp/qs.npy" --k "$tmp/ks.npy" --v "$tmp/vs.npy" --out "$tmp/o.npy" \
    --lse "$tmp/lse.npy" --bshd --causal || fail "aule run (BSHD, causal)"
python3 "$tmp/npy.py" bshd_causal "$tmp" || fail "BSHD causal result"
"$aule" run --spec "$tmp/spec.lua" --q "$tmp/bad.npy" --k "$tmp/k.npy" --v "$tmp/v.npy" --out "$tmp/x.npy" \
    2>"$tmp/err"; rc=$?
[ $rc -ne 0 ] || fail "an <f8 input was accepted"
grep -q "<f8" "$tmp/err" || fail "wrong-dtype message: $(cat "$tmp/err")"
"$aule" run --spec "$tmp/spec.lua" --q "$tmp/none.npy" --k "$tmp/k.npy" --v "$tmp/v.npy" --out "$tmp/x.npy" \
    2>"$tmp/err"; rc=$?
[ $rc -ne 0 ] || fail "a missing input was accepted"
[ -e "$tmp/x.npy" ] && fail "a failed run wrote its output"

# --- hostile options and files (issue 11): each is refused with one message, exit != 0 ---
base=(run --spec "$tmp/spec.lua" --q "$tmp/q.npy" --k "$tmp/k.npy" --v "$tmp/v.npy")
refuse() {  # refuse WHAT EXPECTED-TEXT ARGS...: exits non-zero, says EXPECTED-TEXT once, in time
    local what=$1 want=$2; shift 2
    timeout 20 "$aule" "$@" >/dev/null 2>"$tmp/err"; local rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "$what: exit $rc ($(cat "$tmp/err"))"
    grep -q -- "$want" "$tmp/err" || fail "$what: message lacks '$want': $(cat "$tmp/err")"
    local lines; lines=$(grep -c . "$tmp/err")
    [ "$lines" -eq 1 ] || fail "$what: $lines lines of errors (each error once): $(cat "$tmp/err")"
}
for bad in nan -5 abc inf 1e999 "" "1.5x"; do
    refuse "--softcap '$bad'" "--softcap" "${base[@]}" --out "$tmp/x.npy" --softcap "$bad"
done
for bad in abc 0,125 0 -1 nan; do
    refuse "--scale '$bad'" "--scale" "${base[@]}" --out "$tmp/x.npy" --scale "$bad"
done
for bad in 99999999999,1 1 ,1 "1,2,3" "a,b" -2,0 "1, 2"; do
    refuse "--window '$bad'" "--window" "${base[@]}" --out "$tmp/x.npy" --window "$bad"
done
refuse "bench --iters abc" "--iters" bench --spec "$tmp/spec.lua" --iters abc
refuse "check --seed -1" "--seed" check --spec "$tmp/spec.lua" --seed -1
[ -e "$tmp/x.npy" ] && fail "a refused run wrote its output"
# Only regular files are replaced (as root, --out /dev/full once renamed a file over the node).
mkfifo "$tmp/fifo.npy"
refuse "--out FIFO" "not a regular file" "${base[@]}" --out "$tmp/fifo.npy"
[ -p "$tmp/fifo.npy" ] || fail "--out replaced a FIFO"
refuse "--out and --lse the same" "same file" "${base[@]}" --out "$tmp/o.npy" --lse "$tmp/o.npy"
# A failed --lse write leaves --out as it was.
cp "$tmp/o.npy" "$tmp/o.before"
refuse "--lse in a missing folder" "writing" "${base[@]}" --out "$tmp/o.npy" --lse "$tmp/nodir/lse.npy"
cmp -s "$tmp/o.npy" "$tmp/o.before" || fail "--out was replaced although --lse failed"
ls "$tmp" | grep -q "aule-out" && fail "a temp output was left behind"
# Inputs: a folder, a FIFO (must not block), a huge file (refused before reading it),
# a zero-size dimension with huge others under --bshd (overflowed computing strides).
mkdir "$tmp/dir.npy"
refuse "a folder as input" "not a regular file" run --spec "$tmp/spec.lua" --q "$tmp/dir.npy" --k "$tmp/k.npy" \
    --v "$tmp/v.npy" --out "$tmp/x.npy"
refuse "a FIFO as input" "not a regular file" run --spec "$tmp/spec.lua" --q "$tmp/fifo.npy" --k "$tmp/k.npy" \
    --v "$tmp/v.npy" --out "$tmp/x.npy"
python3 - "$tmp" <<'PY' || fail "writing the huge and zero-size inputs"
import struct, sys
def header(shape):
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(str(s) for s in shape)
    h += " " * (64 - (10 + len(h) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode()
with open(sys.argv[1] + "/huge.npy", "wb") as f:        # 4 GiB of data, sparse
    f.write(header((1, 1, 1 << 20, 1024)))
    f.truncate(len(header((1, 1, 1 << 20, 1024))) + (4 << 30))
with open(sys.argv[1] + "/zero.npy", "wb") as f:
    f.write(header((0, 4294967296, 4294967296, 8)))
PY
start=$(date +%s)
refuse "a 4 GiB input" "over the limit" run --spec "$tmp/spec.lua" --q "$tmp/huge.npy" --k "$tmp/k.npy" \
    --v "$tmp/v.npy" --out "$tmp/x.npy"
[ $(( $(date +%s) - start )) -le 5 ] || fail "the 4 GiB input was read before being refused"
refuse "a zero-size dimension (--bshd)" "dimension" run --spec "$tmp/spec.lua" --q "$tmp/zero.npy" \
    --k "$tmp/k.npy" --v "$tmp/v.npy" --out "$tmp/x.npy" --bshd
echo "run_npy: all checks passed"
