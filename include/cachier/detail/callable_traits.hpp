#pragma once
// Private: the signature of a callable, so that arguments are converted to the parameter types
// before they are encoded (f(1) and f(1L) of `double f(double)` hit the same entry).

#include <functional>
#include <type_traits>

namespace cachier::detail {

template <class... T>
struct type_list {};

template <class F>
struct callable_traits : callable_traits<decltype(&std::remove_cvref_t<F>::operator())> {};

template <class R, class... A>
struct callable_traits<R (*)(A...)> {
    using result = R;
    using params = type_list<A...>;
};
template <class R, class... A>
struct callable_traits<R (*)(A...) noexcept> : callable_traits<R (*)(A...)> {};
template <class R, class... A>
struct callable_traits<R(A...)> : callable_traits<R (*)(A...)> {};
template <class R, class... A>
struct callable_traits<R(A...) noexcept> : callable_traits<R (*)(A...)> {};

// operator() of lambdas and function objects: the object itself is not a parameter.
#define CACHIER_DETAIL_CALL_OPERATOR(QUALIFIERS)                   \
    template <class R, class C, class... A>                        \
    struct callable_traits<R (C::*)(A...) QUALIFIERS> {            \
        using result = R;                                          \
        using params = type_list<A...>;                            \
    };
CACHIER_DETAIL_CALL_OPERATOR()
CACHIER_DETAIL_CALL_OPERATOR(const)
CACHIER_DETAIL_CALL_OPERATOR(noexcept)
CACHIER_DETAIL_CALL_OPERATOR(const noexcept)
#undef CACHIER_DETAIL_CALL_OPERATOR

/// A pointer to a member function: the object is the first parameter.
template <class M>
struct member_traits;
#define CACHIER_DETAIL_MEMBER(QUALIFIERS, OBJECT)                  \
    template <class R, class C, class... A>                        \
    struct member_traits<R (C::*)(A...) QUALIFIERS> {              \
        using result = R;                                          \
        using object = OBJECT;                                     \
        using params = type_list<A...>;                            \
    };
CACHIER_DETAIL_MEMBER(, C&)
CACHIER_DETAIL_MEMBER(const, const C&)
CACHIER_DETAIL_MEMBER(noexcept, C&)
CACHIER_DETAIL_MEMBER(const noexcept, const C&)
#undef CACHIER_DETAIL_MEMBER

template <class F>
concept has_deducible_signature = requires { typename callable_traits<F>::result; };

}  // namespace cachier::detail
