#!/usr/bin/env bash
# build-absl-tsan.sh DIR: builds Abseil with ThreadSanitizer into DIR/install.
#
# Why: Debian's libabsl is not compiled with -fsanitize=thread, so TSan
# cannot see absl::Mutex, Notification or Await synchronise anything, and
# reports every access those locks guard as a data race. The TSan build of
# our engines therefore links an instrumented Abseil: Debian's own source
# package of the installed libabsl-dev version (same code, same patches,
# same inline namespace), fetched through this machine's own apt mirrors and
# built once; later runs find DIR/install and do nothing.
set -euo pipefail

dir=$(mkdir -p "$1" && cd "$1" && pwd)
config="$dir/install/lib/cmake/absl/abslConfig.cmake"
[[ -f "$config" ]] && { echo "build-absl-tsan: using $dir/install"; exit 0; }
jobs=$(nproc)
version=$(dpkg-query -W -f='${Version}' libabsl-dev)

# A private apt state with deb-src lines for the mirrors apt already uses,
# so the system's apt configuration is left untouched.
apt_dir="$dir/apt"
rm -rf "$apt_dir" && mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.list.d"
for file in /etc/apt/sources.list.d/*.sources; do
  [[ -f "$file" ]] || continue
  sed 's/^Types:.*/Types: deb-src/' "$file" >"$apt_dir/sources.list.d/$(basename "$file")"
done
if [[ -f /etc/apt/sources.list ]]; then
  sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list >"$apt_dir/sources.list"
else
  : >"$apt_dir/sources.list"
fi
apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list"
             -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
             -o "Dir::State::Lists=$apt_dir/lists")
echo "build-absl-tsan: fetching Debian's abseil $version source"
apt-get "${apt_options[@]}" -qq update
rm -rf "$dir/src" && mkdir -p "$dir/src"
(cd "$dir/src" && apt-get "${apt_options[@]}" -qq source "abseil=$version" >/dev/null)
source_dir=$(find "$dir/src" -mindepth 1 -maxdepth 1 -type d -name 'abseil-*' | head -n 1)
[[ -n "$source_dir" ]] || { echo "build-absl-tsan: no source unpacked" >&2; exit 1; }

echo "build-absl-tsan: building with -fsanitize=thread (once; a few minutes)"
cmake -S "$source_dir" -B "$dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_STANDARD=17 -DABSL_PROPAGATE_CXX_STD=ON -DBUILD_TESTING=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  "-DCMAKE_CXX_FLAGS=-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan" \
  -DCMAKE_INSTALL_PREFIX="$dir/install" >/dev/null
cmake --build "$dir/build" -j "$jobs" >/dev/null
cmake --install "$dir/build" >/dev/null
rm -rf "$dir/build" "$dir/src" "$dir/apt"
echo "build-absl-tsan: installed into $dir/install"
