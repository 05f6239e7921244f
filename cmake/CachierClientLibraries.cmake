# One INTERFACE target per backend client library, used by the library, the tests and the
# benchmarks alike: cachier_client_hiredis, cachier_client_sqlite3, cachier_client_libpq.
# Each links the library by path (no imported target), so the installed package needs no find module.
# Sets CACHIER_CLIENT_<NAME>_FOUND, CACHIER_CLIENT_TARGETS (to install with cachier) and
# CACHIER_CLIENT_PKG_LIBS (for cachier.pc's Libs.private).

find_package(PkgConfig QUIET)
set(CACHIER_CLIENT_TARGETS "")
set(CACHIER_CLIENT_PKG_LIBS "")

# cachier_client_library(<name> INCLUDE_DIRS <dirs> LIBRARIES <libs> PKG <-lflag>)
function(cachier_client_library name)
    cmake_parse_arguments(arg "" "PKG" "INCLUDE_DIRS;LIBRARIES" ${ARGN})
    string(TOUPPER ${name} upper)
    add_library(cachier_client_${name} INTERFACE)
    set_target_properties(cachier_client_${name} PROPERTIES EXPORT_NAME client_${name})
    target_include_directories(cachier_client_${name} SYSTEM INTERFACE ${arg_INCLUDE_DIRS})
    target_link_libraries(cachier_client_${name} INTERFACE ${arg_LIBRARIES})
    set(CACHIER_CLIENT_${upper}_FOUND TRUE PARENT_SCOPE)
    set(CACHIER_CLIENT_TARGETS ${CACHIER_CLIENT_TARGETS} cachier_client_${name} PARENT_SCOPE)
    set(CACHIER_CLIENT_PKG_LIBS ${CACHIER_CLIENT_PKG_LIBS} ${arg_PKG} PARENT_SCOPE)
endfunction()

if(PkgConfig_FOUND)
    pkg_check_modules(HIREDIS QUIET hiredis)
endif()
if(HIREDIS_FOUND)
    cachier_client_library(hiredis INCLUDE_DIRS ${HIREDIS_INCLUDE_DIRS} LIBRARIES ${HIREDIS_LINK_LIBRARIES}
        PKG -lhiredis)
endif()

find_package(SQLite3 QUIET)
if(SQLite3_FOUND)
    cachier_client_library(sqlite3 INCLUDE_DIRS ${SQLite3_INCLUDE_DIRS} LIBRARIES ${SQLite3_LIBRARIES}
        PKG -lsqlite3)
endif()

if(PkgConfig_FOUND)
    pkg_check_modules(MONGOC QUIET libmongoc-1.0)
endif()
if(MONGOC_FOUND)
    cachier_client_library(mongoc INCLUDE_DIRS ${MONGOC_INCLUDE_DIRS} LIBRARIES ${MONGOC_LINK_LIBRARIES}
        PKG "-lmongoc-1.0 -lbson-1.0")
endif()

find_package(PostgreSQL QUIET)
if(PostgreSQL_FOUND)
    cachier_client_library(libpq INCLUDE_DIRS ${PostgreSQL_INCLUDE_DIRS} LIBRARIES ${PostgreSQL_LIBRARIES}
        PKG -lpq)
endif()

# The S3 backend's: libcurl (HTTP and SigV4) and pugixml (the XML of listings), as one target.
find_package(CURL QUIET)
find_path(CACHIER_PUGIXML_INCLUDE_DIR pugixml.hpp)
find_library(CACHIER_PUGIXML_LIBRARY pugixml)
if(CURL_FOUND AND CACHIER_PUGIXML_INCLUDE_DIR AND CACHIER_PUGIXML_LIBRARY)
    cachier_client_library(curl INCLUDE_DIRS ${CURL_INCLUDE_DIRS} ${CACHIER_PUGIXML_INCLUDE_DIR}
        LIBRARIES ${CURL_LIBRARIES} ${CACHIER_PUGIXML_LIBRARY} PKG "-lcurl -lpugixml")
endif()

# The metrics server's: cpp-httplib (its header declares what its library, built with OpenSSL, zlib
# and Brotli, defines: the same definitions are needed).
if(PkgConfig_FOUND)
    pkg_check_modules(HTTPLIB QUIET cpp-httplib)
endif()
if(HTTPLIB_FOUND)
    cachier_client_library(httplib INCLUDE_DIRS ${HTTPLIB_INCLUDE_DIRS} LIBRARIES ${HTTPLIB_LINK_LIBRARIES}
        PKG -lcpp-httplib)
    target_compile_options(cachier_client_httplib INTERFACE ${HTTPLIB_CFLAGS_OTHER})
endif()
