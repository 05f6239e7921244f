# Builds tests/package/consumer against cachier either as an installed package (MODE=find_package)
# or as a subdirectory (MODE=add_subdirectory), then runs it.
# Inputs: SOURCE_DIR, WORK_DIR, MODE, GENERATOR.

function(run)
    execute_process(COMMAND ${ARGV} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "failed (${result}): ${ARGV}")
    endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(consumer_args -DCACHIER_CONSUMER_MODE=${MODE} -DCMAKE_BUILD_TYPE=Release)
if(MODE STREQUAL "find_package")
    run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/cachier-build -G ${GENERATOR}
        -DCMAKE_BUILD_TYPE=Release -DCACHIER_BUILD_TESTS=OFF -DCACHIER_BUILD_EXAMPLES=OFF
        -DCACHIER_BUILD_BENCH=OFF -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
    run(${CMAKE_COMMAND} --build ${WORK_DIR}/cachier-build)
    run(${CMAKE_COMMAND} --install ${WORK_DIR}/cachier-build)
    list(APPEND consumer_args -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
    list(APPEND consumer_args -DCACHIER_SOURCE_DIR=${SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/consumer-build -G ${GENERATOR}
    ${consumer_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
file(MAKE_DIRECTORY ${WORK_DIR}/home)
run(${CMAKE_COMMAND} -E env HOME=${WORK_DIR}/home XDG_CACHE_HOME= ${WORK_DIR}/consumer-build/consumer)
