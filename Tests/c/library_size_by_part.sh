#!/usr/bin/env bash
# Tests/c/library_size_by_part.sh LIBRARY: what libmarty_metrics.so is made of, in KiB per part
# (Swift runtime and standard library, swift-nio, NIOSSL and BoringSSL, C/C++ runtime, Marty).
#
# LIBRARY must be the library as built (not stripped: the parts are read from its symbol table,
# .symtab), e.g. build-cmake/lib/libmarty_metrics.so.0 or .build/release/libmarty_metrics.so.
# The numbers are for the stripped library (what `strip --strip-unneeded` installs):
#   - code and data: each symbol's bytes, by the module its mangled (Swift) or prefixed (C) name
#     names. Symbols that name no module or name the standard library while compiled into
#     another module (generic specializations, outlined copies, merged functions, C statics,
#     C++ templates) go to the part of the nearest named symbol before them in the same
#     section: the linker lays out each input file's sections together, in input order;
#   - unwind tables (.eh_frame): each FDE goes to the part of the function it describes;
#   - dynamic relocations (.rela.dyn): each one to the part of the symbol it patches;
#   - the rest (padding between symbols, Swift reflection and conformance records, .eh_frame_hdr,
#     the dynamic symbol table, ELF headers) is listed as it is, not shared out.
# Needs python3, readelf (binutils) and strip.
set -euo pipefail
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "usage: $0 LIBRARY (the unstripped libmarty_metrics.so)" >&2
    exit 2
fi
exec python3 - "$1" <<'PYTHON'
import bisect, collections, os, re, subprocess, sys, tempfile

library = sys.argv[1]

def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout

PARTS = ["Swift runtime + stdlib", "Swift Concurrency + Dispatch", "swift-nio (+ atomics, collections)",
         "NIOSSL + BoringSSL", "C/C++ runtime (libstdc++, libgcc, crt)", "Marty (our code)"]
STDLIB, CONCURRENCY, NIO, SSL, CRT, MARTY = PARTS

# Swift modules (as mangled: $s<length><name>) -> part.
MODULES = {
    "Swift": STDLIB, "SwiftShims": STDLIB, "Glibc": STDLIB, "SwiftGlibc": STDLIB, "Synchronization": STDLIB,
    "_StringProcessing": STDLIB, "_RegexParser": STDLIB, "Foundation": STDLIB, "FoundationEssentials": STDLIB,
    "_Concurrency": CONCURRENCY, "Dispatch": CONCURRENCY,
    "NIOSSL": SSL, "NIOTLS": SSL, "CNIOBoringSSL": SSL, "CNIOBoringSSLShims": SSL,
}
for m in ["NIO", "NIOCore", "NIOPosix", "NIOHTTP1", "NIOEmbedded", "NIOConcurrencyHelpers", "_NIODataStructures",
          "_NIOBase64", "Atomics", "DequeModule", "InternalCollectionsUtilities", "ContainersPreview", "CNIOLinux",
          "CNIOPosix", "CNIOLLHTTP", "CNIOAtomics", "_AtomicsShims", "NIOExtras", "NIOHTTP2"]:
    MODULES[m] = NIO
# C and C++ names -> part (checked in order; the first prefix that matches wins).
C_PREFIXES = [
    ("marty_", MARTY), ("cmarty_", MARTY), ("CMarty", MARTY),
    ("CNIOBoringSSL", SSL), ("_ZN4bssl", SSL), ("_ZNK4bssl", SSL), ("_ZZN4bssl", SSL), ("_ZN5mldsa", SSL),
    ("_ZN5mlkem", SSL), ("_ZN6slhdsa", SSL), ("_ZL24boringssl", SSL), ("_ZZL24boringssl", SSL),
    ("CNIOLinux_", NIO), ("CNIOPosix_", NIO), ("c_nio_", NIO), ("catmc_", NIO), ("_sa_", NIO), ("llparse_", NIO),
    ("swift_task", CONCURRENCY), ("swift_job", CONCURRENCY), ("swift_continuation", CONCURRENCY),
    ("swift_asyncLet", CONCURRENCY), ("swift_taskGroup", CONCURRENCY), ("_ZN5swift10concurrency", CONCURRENCY),
    ("dispatch_", CONCURRENCY), ("_dispatch", CONCURRENCY), ("__dispatch", CONCURRENCY), ("_os_", CONCURRENCY),
    ("_Block_", CONCURRENCY), ("_NSConcrete", CONCURRENCY),
    ("swift_", STDLIB), ("_swift_", STDLIB), ("__swift_", STDLIB), ("_ZN5swift", STDLIB), ("_ZNK5swift", STDLIB),
    ("_ZN7__swift", STDLIB), ("_ZNK7__swift", STDLIB), ("_ZL24_swift_", STDLIB), ("_ZL19_swift_stdlib", STDLIB),
    ("_ZL27_swift_stdlib", STDLIB),
    ("_ZNSt", CRT), ("_ZSt", CRT), ("_ZNKSt", CRT), ("__cxa_", CRT), ("__gxx_", CRT), ("_ZTVN10__cxxabiv1", CRT),
    ("__cpu_", CRT), ("__udiv", CRT), ("__div", CRT), ("__mul", CRT), ("__pop", CRT), ("_init", CRT), ("_fini", CRT),
    ("__do_global", CRT), ("deregister_tm_clones", CRT), ("register_tm_clones", CRT), ("frame_dummy", CRT),
    ("__dso_handle", CRT), ("__TMC_END__", CRT), ("__truncdfhf2", CRT), ("__extendhfsf2", CRT),
]
# Mangled Swift suffixes of code a module emits for another module's declarations (generic
# specializations, outlined value operations, merged, thunks): these follow their neighbours.
EMITTED_INTO_CLIENT = re.compile(r"(Tg5|Tf[0-9a-z_]*|TA|Tm|WOb|WOc|WOd|WOe|WOf|WOh|WOi|WOj|WOs|WOy|TR|Tr|TW)$|Tg5")

def swift_module(name):
    s = name[1:] if name.startswith("_$s") else name
    if not s.startswith("$s"):
        return None
    s = s[2:]
    if s.startswith("s") or (s[:1] == "S" and s[1:2] not in ("c", "o", "C")):
        return "Swift"
    if s.startswith("Sc"):
        return "_Concurrency"
    m = re.match(r"(\d+)", s)
    if not m:
        return None
    n = int(m.group(1))
    return s[len(m.group(1)):len(m.group(1)) + n]

def classify(name):
    """(part, anchor): anchor when the name says where the bytes come from."""
    mod = swift_module(name)
    if mod is not None:
        part = MODULES.get(mod) or (MARTY if mod.startswith("Marty") else None)
        if part is None:
            return None, False
        if EMITTED_INTO_CLIENT.search(name):
            return part, False
        return part, True
    for prefix, part in C_PREFIXES:
        if name.startswith(prefix):
            return part, True
    return None, False

# Sections.
sections = []  # (name, addr, size, offset)
for line in run("readelf", "-SW", library).splitlines():
    m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
    if m:
        sections.append((m.group(1), int(m.group(3), 16), int(m.group(5), 16), m.group(2)))
if not any(s[0] == ".symtab" for s in sections):
    sys.exit(f"{library}: no .symtab (stripped?): give the library as built")

# Symbols, sorted by address.
symbols = []  # (addr, size, name, part, anchor)
for line in run("readelf", "-sW", "--wide", library).splitlines():
    f = line.split()
    if len(f) < 8 or not f[0].endswith(":") or f[6] in ("UND", "ABS", "Ndx"):
        continue
    if f[3] in ("FILE", "SECTION"):
        continue
    addr, size, name = int(f[1], 16), int(f[2], 0), f[7]
    name = name.split("@")[0]
    part, anchor = classify(name)
    symbols.append((addr, size, name, part, anchor))
symbols.sort()
# One entry per address (aliases): keep the largest, prefer an anchor.
dedup = {}
for s in symbols:
    k = s[0]
    if k not in dedup or (s[1], s[4]) > (dedup[k][1], dedup[k][4]):
        dedup[k] = s
symbols = [dedup[k] for k in sorted(dedup)]

def section_of(addr):
    for name, start, size, _ in sections:
        if start <= addr < start + size and start != 0:
            return name
    return None

# Fill the parts the names leave open from the previous anchor in the same section (else the next).
parts = [None] * len(symbols)
last = {}
for i, (addr, size, name, part, anchor) in enumerate(symbols):
    sec = section_of(addr)
    if anchor:
        parts[i] = part
        last[sec] = part
    else:
        parts[i] = last.get(sec)
nxt = {}
for i in range(len(symbols) - 1, -1, -1):
    sec = section_of(symbols[i][0])
    if symbols[i][4]:
        nxt[sec] = symbols[i][3]
    elif parts[i] is None:
        parts[i] = nxt.get(sec) or symbols[i][3]
starts = [s[0] for s in symbols]

def part_at(addr):
    i = bisect.bisect_right(starts, addr) - 1
    if i < 0:
        return None
    a, size, *_ = symbols[i]
    if addr < a + max(size, 1) or size == 0:
        return parts[i]
    return parts[i]  # in padding after a symbol: its part

# Each symbol's bytes run to the next symbol (or its section's end): padding and unnamed data
# (string literals, reflection strings, constants) go with the code before them. Swift's
# metadata record sections (swift5_*) have no symbols of their own and are left out.
SKIP = (".bss", ".tbss", ".eh_frame", ".eh_frame_hdr", ".gcc_except_table", ".rela.dyn", ".rela.plt", ".plt", ".got",
        ".got.plt", ".dynamic", ".gnu.hash", ".gnu.version", ".gnu.version_d", ".gnu.version_r",
        ".dynsym", ".dynstr", ".symtab", ".strtab")
bounds = {name: (start, start + size) for name, start, size, kind in sections
          if start and kind != "NOBITS" and name not in SKIP and not name.startswith("swift5_")}
total = collections.Counter()
code = collections.Counter()
covered = collections.Counter()
for i, ((addr, size, name, part, anchor), p) in enumerate(zip(symbols, parts)):
    sec = section_of(addr)
    if sec not in bounds:
        continue
    end = bounds[sec][1]
    if i + 1 < len(symbols) and symbols[i + 1][0] < end:
        end = symbols[i + 1][0]
    extent = end - addr
    code[p or "unattributed"] += extent
    total[p or "unattributed"] += extent
    covered[sec] += extent

# Unwind tables: each FDE by the function it covers.
unwind = collections.Counter()
for line in run("readelf", "--debug-dump=frames", library).splitlines():
    m = re.match(r"([0-9a-f]+) ([0-9a-f]+) [0-9a-f]+ FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.", line)
    if m:
        p = part_at(int(m.group(3), 16)) or "unattributed"
        unwind[p] += int(m.group(2), 16) + 4
        total[p] += int(m.group(2), 16) + 4

# Dynamic relocations (24 bytes each on x86_64) by the symbol they patch.
relocs = collections.Counter()
in_dyn = False
for line in run("readelf", "-rW", library).splitlines():
    if line.startswith("Relocation section"):
        in_dyn = "'.rela.dyn'" in line
        continue
    m = re.match(r"([0-9a-f]{8,})\s", line)
    if in_dyn and m:
        p = part_at(int(m.group(1), 16)) or "unattributed"
        relocs[p] += 24
        total[p] += 24

with tempfile.TemporaryDirectory() as tmp:
    stripped = os.path.join(tmp, "stripped.so")
    subprocess.run(["strip", "--strip-unneeded", "-o", stripped, library], check=True)
    stripped_size = os.path.getsize(stripped)
    stripped_sections = {}
    for line in run("readelf", "-SW", stripped).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m and m.group(2) != "NOBITS":
            stripped_sections[m.group(1)] = int(m.group(5), 16)

kib = lambda n: n / 1024
if os.environ.get("DEBUG_SECTIONS"):
    for sec, (a, b) in bounds.items():
        print(sec, b - a, covered[sec], file=sys.stderr)
print(f"{library}: {stripped_size} bytes = {kib(stripped_size):.0f} KiB stripped")
print(f"{'part':40} {'KiB':>7} {'code+data':>10} {'unwind':>7} {'relocs':>7}")
for p in PARTS + ["unattributed"]:
    if total[p]:
        print(f"{p:40} {kib(total[p]):7.0f} {kib(code[p]):10.0f} {kib(unwind[p]):7.0f} {kib(relocs[p]):7.0f}")
swift_records = sum(v for k, v in stripped_sections.items() if k.startswith("swift5_"))
eh_hdr = stripped_sections.get(".eh_frame_hdr", 0)
dyn = sum(stripped_sections.get(k, 0) for k in (".dynsym", ".dynstr", ".gnu.hash", ".gnu.version", ".gnu.version_d",
                                                  ".gnu.version_r", ".rela.plt", ".plt", ".got", ".got.plt", ".dynamic"))
attributed = sum(total.values())
print(f"{'Swift metadata records (swift5_*)':40} {kib(swift_records):7.0f}")
print(f"{'.eh_frame_hdr':40} {kib(eh_hdr):7.0f}")
print(f"{'dynamic linking (dynsym, plt, got...)':40} {kib(dyn):7.0f}")
gcc_except = stripped_sections.get(".gcc_except_table", 0)
print(f"{'C++ exception tables (.gcc_except_table)':40} {kib(gcc_except):7.0f}")
rest = stripped_size - attributed - swift_records - eh_hdr - dyn - gcc_except
print(f"{'rest (headers, alignment, before symbols)':40} {kib(rest):7.0f}")
PYTHON
