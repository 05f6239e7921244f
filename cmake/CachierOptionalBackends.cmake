# Optional backends. Each has a cache variable CACHIER_WITH_<NAME> that is AUTO (the default: on
# when the client library is found), ON (configuration fails when it is missing) or OFF.
# A backend that is off is still callable: its factory throws cachier::backend_not_built.
#
#   cachier_optional_backend(<NAME> FOUND <found-variable> PACKAGES "<debian packages>")
# returns CACHIER_BACKEND_<NAME>_ENABLED in the caller's scope.
function(cachier_optional_backend name)
    cmake_parse_arguments(arg "" "FOUND;PACKAGES" "" ${ARGN})
    set(CACHIER_WITH_${name} AUTO CACHE STRING "Build the ${name} backend: AUTO, ON or OFF")
    set_property(CACHE CACHIER_WITH_${name} PROPERTY STRINGS AUTO ON OFF)
    set(mode "${CACHIER_WITH_${name}}")
    set(enabled OFF)
    if(mode STREQUAL "ON")
        if(NOT ${arg_FOUND})
            message(FATAL_ERROR "CACHIER_WITH_${name}=ON but its client library was not found "
                                "(Debian: apt-get install ${arg_PACKAGES})")
        endif()
        set(enabled ON)
    elseif(mode STREQUAL "AUTO")
        set(enabled ${${arg_FOUND}})
    elseif(NOT mode STREQUAL "OFF")
        message(FATAL_ERROR "CACHIER_WITH_${name} must be AUTO, ON or OFF, not '${mode}'")
    endif()
    if(enabled)
        message(STATUS "cachier: ${name} backend enabled")
    else()
        message(STATUS "cachier: ${name} backend disabled (CACHIER_WITH_${name}=${mode})")
    endif()
    set(CACHIER_BACKEND_${name}_ENABLED ${enabled} PARENT_SCOPE)
endfunction()
