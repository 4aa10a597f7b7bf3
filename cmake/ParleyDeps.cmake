# Every third-party library Parley links, each from a Debian 12 package
# (see docs/dependencies.md). Imported as targets so modules name what they use.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json url)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(CURL REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
# Time zones from the system tz database (libhowardhinnant-date-dev): GCC 12's
# libstdc++ lacks C++20's std::chrono::locate_zone.
find_package(date CONFIG REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
# libcsv (Debian libcsv-dev) ships no pkg-config file or CMake package.
find_path(LIBCSV_INCLUDE_DIR csv.h REQUIRED)
find_library(LIBCSV_LIBRARY csv REQUIRED)
add_library(Parley::libcsv UNKNOWN IMPORTED)
set_target_properties(Parley::libcsv PROPERTIES IMPORTED_LOCATION "${LIBCSV_LIBRARY}"
                      INTERFACE_INCLUDE_DIRECTORIES "${LIBCSV_INCLUDE_DIR}")
find_package(GTest REQUIRED)
# SAML (src/saml): Lasso's .pc lists glib/gobject only as Requires.private,
# so name them here or linking fails on g_object_unref (saml-lasso.md §4).
pkg_check_modules(LASSO REQUIRED IMPORTED_TARGET lasso glib-2.0 gobject-2.0 libxml-2.0)
