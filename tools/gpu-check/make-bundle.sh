#!/usr/bin/env bash
# Builds, on a machine with the .NET SDK, the git-ignored tools/bundle/ folder for GPU machines without dotnet: the shared .NET runtime
# (dotnet host + host/fxr + shared/Microsoft.NETCore.App) as a .tar.gz, and framework-dependent Release builds of the CUDA tests,
# the CudaBandwidth tool and the `se` CLI. Usage: tools/gpu-check/make-bundle.sh   (then carry tools/bundle to the GPU machine)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bundle="$repo/tools/bundle"
limit_mib=60
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { print $2 }' | sort -V | tail -1)
[ -n "$runtime" ] || { echo "no Microsoft.NETCore.App runtime found under $dotnet_root" >&2; exit 1; }
rm -rf "$bundle"
mkdir -p "$bundle"
echo "runtime Microsoft.NETCore.App $runtime from $dotnet_root"
tar -czf "$bundle/dotnet-runtime.tar.gz" -C "$dotnet_root" dotnet host "shared/Microsoft.NETCore.App/$runtime"
echo "$runtime" > "$bundle/runtime-version.txt"
build() { # project, output folder
  dotnet build "$repo/$1" -c Release -o "$bundle/$2" -p:GenerateDocumentationFile=false -nologo -v q 2>&1 | grep -E ": error |: warning " || true
  [ -n "$(ls "$bundle/$2"/*.dll 2>/dev/null)" ] || { echo "build of $1 failed" >&2; exit 1; }
  rm -f "$bundle/$2"/*.xml
}
build tests/SeFramework.Cuda.Tests/SeFramework.Cuda.Tests.csproj tests
build tools/gpu-check/CudaBandwidth/CudaBandwidth.csproj bandwidth
build SeFramework.Train/SeFramework.Train.csproj se
git -C "$repo" rev-parse HEAD > "$bundle/commit.txt" 2>/dev/null || true
size_kib=$(du -sk "$bundle" | cut -f1)
echo "bundle: $bundle, $((size_kib / 1024)) MiB"
du -sh "$bundle"/* | sed 's/^/  /'
if [ "$size_kib" -gt $((limit_mib * 1024)) ]; then echo "bundle exceeds ${limit_mib} MiB" >&2; exit 1; fi
