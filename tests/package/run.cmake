# Builds tests/package/consumer against cachier as an installed package (MODE=find_package) or as a
# subdirectory (MODE=add_subdirectory), then runs it. The installed package is also used to build and
# run the conformance suite against the example of a user's own backend, and to build the consumer
# with pkg-config and no CMake. The package is installed from the build tree running the test (its
# install rules are those of any build).
# Inputs: SOURCE_DIR, BUILD_DIR, WORK_DIR, MODE, GENERATOR.

function(run)
    execute_process(COMMAND ${ARGV} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "failed (${result}): ${ARGV}")
    endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/home)
set(consumer_args -DCACHIER_CONSUMER_MODE=${MODE} -DCMAKE_BUILD_TYPE=Release)
if(MODE STREQUAL "find_package")
    run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
    list(APPEND consumer_args -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCACHIER_CONFORMANCE_DIR=${SOURCE_DIR}/tests
         -DCACHIER_EXAMPLE_BACKEND_DIR=${SOURCE_DIR}/examples/custom_backend)
else()
    list(APPEND consumer_args -DCACHIER_SOURCE_DIR=${SOURCE_DIR})
endif()

run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/consumer-build -G ${GENERATOR}
    ${consumer_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
run(${CMAKE_COMMAND} -E env HOME=${WORK_DIR}/home XDG_CACHE_HOME= ${WORK_DIR}/consumer-build/consumer)
if(MODE STREQUAL "find_package")
    run(${CMAKE_COMMAND} -E env HOME=${WORK_DIR}/home XDG_CACHE_HOME=
        ${WORK_DIR}/consumer-build/custom_backend_conformance --gtest_brief=1)
    # A build without CMake: the compiler flags and libraries come from cachier.pc alone.
    file(GLOB_RECURSE pc_files ${WORK_DIR}/prefix/*/cachier.pc)
    list(GET pc_files 0 pc_file)
    get_filename_component(pc_dir ${pc_file} DIRECTORY)
    execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir} pkg-config --cflags --libs --static cachier
        OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "pkg-config does not find cachier.pc")
    endif()
    separate_arguments(flags UNIX_COMMAND "${flags}")
    run(c++ -std=c++20 -O1 -Wall -Wextra -Wpedantic -Werror ${SOURCE_DIR}/tests/package/consumer/main.cpp ${flags}
        -o ${WORK_DIR}/consumer-pkg-config)
    run(${CMAKE_COMMAND} -E env HOME=${WORK_DIR}/home XDG_CACHE_HOME= ${WORK_DIR}/consumer-pkg-config)
endif()
