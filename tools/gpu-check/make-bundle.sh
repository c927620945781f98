#!/usr/bin/env bash
# Builds, on a machine with the .NET SDK, the git-ignored tools/bundle/ folder for GPU machines without dotnet: the shared .NET runtime
# (dotnet host + host/fxr + shared/Microsoft.NETCore.App) as dotnet-runtime.tar.gz, and framework-dependent Release builds of the
# CUDA tests, the CudaBandwidth tool and the `se` CLI as apps.tar.gz (run.sh unpacks both). Native assets for platforms other than
# linux-x64 (ScottPlot's SkiaSharp/HarfBuzz: ~140 MiB) are dropped; the host never probes another RID's assets.
# Usage: tools/gpu-check/make-bundle.sh   (then carry tools/bundle to the GPU machine; it must stay under 60 MiB)
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
stage="$bundle/.stage"
build() { # project, output folder
  dotnet build "$repo/$1" -c Release -o "$stage/$2" -p:GenerateDocumentationFile=false -nologo -v q 2>&1 | grep -E ": error |: warning " || true
  [ -n "$(ls "$stage/$2"/*.dll 2>/dev/null)" ] || { echo "build of $1 failed" >&2; exit 1; }
  rm -f "$stage/$2"/*.xml
  if [ -d "$stage/$2/runtimes" ]; then
    find "$stage/$2/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 ! -name linux ! -name unix -exec rm -rf {} +
  fi
}
build tests/SeFramework.Cuda.Tests/SeFramework.Cuda.Tests.csproj tests
build tools/gpu-check/CudaBandwidth/CudaBandwidth.csproj bandwidth
build SeFramework.Train/SeFramework.Train.csproj se
tar -czf "$bundle/apps.tar.gz" -C "$stage" tests bandwidth se
rm -rf "$stage"
git -C "$repo" rev-parse HEAD > "$bundle/commit.txt" 2>/dev/null || true
size_kib=$(du -sk "$bundle" | cut -f1)
echo "bundle: $bundle, $((size_kib / 1024)) MiB"
du -sh "$bundle"/* | sed 's/^/  /'
if [ "$size_kib" -gt $((limit_mib * 1024)) ]; then echo "bundle exceeds ${limit_mib} MiB" >&2; exit 1; fi
