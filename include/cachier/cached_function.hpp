#pragma once
/// @file cached_function.hpp
/// @brief cachier::cachier(), the one-line decorator, and the cached_function it returns.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <cachier/call_status.hpp>
#include <cachier/detail/callable_traits.hpp>
#include <cachier/detail/engine.hpp>
#include <cachier/metrics.hpp>
#include <cachier/options.hpp>
#include <cachier/serialization.hpp>

namespace cachier {

/// A member function whose object is deliberately left out of the key: every object shares the
/// cached values. Made by exclude_object().
template <class Member>
struct excluded_object_member {
    Member member;  ///< the wrapped pointer to member function

    /// Calls the member on `object`.
    template <class Object, class... Args>
    decltype(auto) operator()(Object&& object, Args&&... args) const {
        return std::invoke(member, std::forward<Object>(object), std::forward<Args>(args)...);
    }
};

/// Caches a member function with the object left out of the key, so all objects share entries:
/// `cachier::cachier("Db.lookup", cachier::exclude_object(&Db::lookup))`, called as `f(db, id)`.
/// Without it, a member function's object takes part in the key and must be serializable.
template <class Member>
    requires std::is_member_function_pointer_v<Member>
[[nodiscard]] excluded_object_member<Member> exclude_object(Member member) {
    return {member};
}

namespace detail {

template <class T, class List>
struct prepend;
template <class T, class... A>
struct prepend<T, type_list<A...>> {
    using type = type_list<T, A...>;
};

/// How a stored callable is called: its result, its parameters, and how many leading parameters
/// stay out of the key.
template <class F>
struct invocation {
    static_assert(has_deducible_signature<F>,
                  "cachier::cachier needs a callable with one signature (a function, a function pointer, "
                  "a lambda without auto parameters, std::function or a pointer to member function)");
    using result = typename callable_traits<F>::result;
    using params = typename callable_traits<F>::params;
    static constexpr std::size_t unkeyed = 0;
};
template <class F>
    requires std::is_member_function_pointer_v<F>
struct invocation<F> {
    using result = typename member_traits<F>::result;
    using params = typename prepend<typename member_traits<F>::object, typename member_traits<F>::params>::type;
    static constexpr std::size_t unkeyed = 0;
};
template <class M>
struct invocation<excluded_object_member<M>> {
    using result = typename member_traits<M>::result;
    using params = typename prepend<typename member_traits<M>::object, typename member_traits<M>::params>::type;
    static constexpr std::size_t unkeyed = 1;
};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

/// The default key: the encoding of the keyed arguments.
struct argument_key {};

/// A value's encoding after value_room free bytes; throws serialization_error like encode().
template <class R>
std::string encode_value(const R& value) {
    std::string bytes = encode_buffer();
    bytes.assign(value_room, '\0');
    archive_limits limits;
    encode_into(bytes, &limits, value);
    return bytes;
}

/// A std::string's encoding as its length in `bytes` (after value_room) and its own bytes as the
/// tail, so that storing it copies them once, into the store.
inline computed_value encode_string_result(const std::string& value) {
    computed_value out;
    out.bytes = encode_buffer();
    out.bytes->assign(value_room, '\0');
    encode_into(*out.bytes, nullptr, static_cast<std::uint64_t>(value.size()));  // the length, as strings encode it
    out.tail = value;
    return out;
}

template <class R>
computed_value encode_result(const R& value) {
    computed_value out;
    if constexpr (is_optional<R>::value) out.is_none = !value.has_value();
    try {
        out.bytes = encode_value(value);
    } catch (const std::exception& e) {
        out.encode_error = e.what();
    }
    return out;
}

template <std::size_t Skip, class Tuple, std::size_t... I>
std::string encode_tail(const Tuple& args, std::index_sequence<I...>) {
    return encode_key(std::get<Skip + I>(args)...);
}

}  // namespace detail

template <class F, class KeyFn = detail::argument_key, class Params = typename detail::invocation<F>::params>
class cached_function;

/// A cached function: call it like the function it wraps. Copies share the same cache and metrics.
template <class F, class KeyFn, class... A>
class cached_function<F, KeyFn, detail::type_list<A...>> {
    using invocation = detail::invocation<F>;

public:
    /// The type every call returns.
    using result_type = std::remove_cvref_t<typename invocation::result>;

    static_assert(!std::is_void_v<result_type>, "cachier cannot cache a function returning void");
    static_assert((!std::is_rvalue_reference_v<A> && ...),
                  "cachier cannot cache a function taking rvalue-reference parameters");
    static_assert(serializable<result_type>,
                  "the result type must be serializable: give it a `template <class Archive> void "
                  "serialize(Archive&)` member (see cachier/serialization.hpp)");
    static_assert(std::is_default_constructible_v<result_type>,
                  "the result type must be default constructible (or wrap it in std::optional)");

    /// Use cachier::cachier() to make one.
    cached_function(std::shared_ptr<detail::function_state> state, std::shared_ptr<const F> fn, KeyFn key_fn)
        : state_(std::move(state)), fn_(std::move(fn)), key_fn_(std::move(key_fn)) {}

    /// Cached call.
    result_type operator()(A... args) const { return call(call_options{}, std::forward<A>(args)...); }

    /// Cached call with per-call options (skip_cache, overwrite_cache, verbose, max_age).
    result_type call(const call_options& options, A... args) const {
        const std::string key = key_bytes(args...);
        site s(fn_, std::forward_as_tuple(args...));
        detail::run_call(*state_, options, key, s);
        return std::move(*s.result);
    }

    /// A cached call that also says how the value was obtained (fresh hit, stale hit, computed,
    /// waited for another caller, skipped): `auto [value, status] = f.call_with_status({}, args...)`.
    call_result<result_type> call_with_status(const call_options& options, A... args) const {
        const std::string key = key_bytes(args...);
        site s(fn_, std::forward_as_tuple(args...));
        const call_status status = detail::run_call(*state_, options, key, s);
        return {std::move(*s.result), status};
    }

    /// A cached call that returns the value shared and immutable: a hit served by the in-process
    /// tier hands out the value the tier keeps, without copying it (for large results: a vector
    /// of a million elements costs the same as an integer). Values of other hits are decoded once.
    [[nodiscard]] std::shared_ptr<const result_type> shared(A... args) const {
        return call_shared(call_options{}, std::forward<A>(args)...);
    }

    /// shared() with per-call options.
    [[nodiscard]] std::shared_ptr<const result_type> call_shared(const call_options& options, A... args) const {
        const std::string key = key_bytes(args...);
        site s(fn_, std::forward_as_tuple(args...), true);
        detail::run_call(*state_, options, key, s);
        return s.shared_result ? std::move(s.shared_result)
                               : std::make_shared<const result_type>(std::move(*s.result));
    }

    /// The fresh stored value of these arguments, if there is one. Never calls the function, never
    /// claims and never waits for another caller's computation; a failing backend is reported (log,
    /// metrics) and reads as no value.
    [[nodiscard]] std::optional<result_type> peek(A... args) const {
        const std::string key = key_bytes(args...);
        site s(fn_, std::forward_as_tuple(args...));
        if (!detail::peek(*state_, key, s)) return std::nullopt;
        return std::move(s.result);
    }

    /// Removes the stored value of these arguments (a computation in progress stays claimed); true
    /// when there was one. Throws backend_error when the backend fails.
    bool invalidate(A... args) const { return detail::invalidate(*state_, key_bytes(args...)); }

    /// Stores `value` as the result for these arguments without calling the function.
    /// Throws serialization_error when the value cannot be encoded.
    void precache_value(const result_type& value, A... args) const {
        detail::precache(*state_, key_bytes(args...), detail::encode_value(value));
    }

    /// Removes every stored value of this function.
    void clear_cache() const { detail::clear_cache(*state_); }

    /// Removes every "being calculated" mark of this function.
    void clear_being_calculated() const { detail::clear_being_calculated(*state_); }

    /// The directory holding this function's entries (file backend); empty for other backends.
    [[nodiscard]] std::optional<std::filesystem::path> cache_dpath() const { return detail::cache_dpath(*state_); }

    /// This function's metrics (all zero unless enable_metrics is on).
    [[nodiscard]] metrics_snapshot metrics() const { return detail::read_metrics(*state_); }

    /// The name given to cachier::cachier.
    [[nodiscard]] const std::string& name() const noexcept { return detail::function_name(*state_); }

    /// A copy that builds keys with `key_fn(args...)` instead of the arguments themselves (upstream
    /// hash_func): the key is the encoding of what it returns, so it may return any serializable
    /// value, e.g. a std::string naming what matters. It shares this function's cache and metrics.
    template <class NewKeyFn>
    [[nodiscard]] cached_function<F, NewKeyFn> with_key(NewKeyFn key_fn) const {
        return cached_function<F, NewKeyFn>(state_, fn_, std::move(key_fn));
    }

private:
    using argument_refs = std::tuple<A&...>;

    std::string key_bytes(A&... args) const {
        if constexpr (std::is_same_v<KeyFn, detail::argument_key>) {
            constexpr std::size_t skip = invocation::unkeyed;
            static_assert((serializable<std::remove_cvref_t<A>> && ...) || skip > 0,
                          "every argument must be serializable; for a member function, give the class a "
                          "serialize() member or wrap it with cachier::exclude_object");
            return detail::encode_tail<skip>(argument_refs(args...),
                                             std::make_index_sequence<sizeof...(A) - skip>{});
        } else {
            return detail::encode_key(std::invoke(key_fn_, std::as_const(args)...));
        }
    }

    struct site final : detail::call_site {
        static constexpr bool trivial = std::is_trivially_copyable_v<result_type>;
        // A std::string is encoded as its 64-bit length, then its bytes.
        static constexpr bool byte_string = std::is_same_v<result_type, std::string>;
        site(const std::shared_ptr<const F>& fn, argument_refs args, bool wants_shared = false)
            : call_site(trivial && sizeof(result_type) <= 64,
                        trivial && sizeof(result_type) <= 16 && alignof(result_type) <= 16 ? sizeof(result_type) : 0,
                        byte_string ? sizeof(std::uint64_t) : 0),
              fn(fn), args(args), wants_shared(wants_shared) {}

        detail::computed_value compute() override {
            result.emplace(std::apply([this](auto&... a) { return std::invoke(*fn, a...); }, args));
            if constexpr (byte_string) return detail::encode_string_result(*result);
            return detail::encode_result(*result);
        }
        bool adopt(std::string_view bytes) override {
            auto decoded = decode<result_type>(bytes);
            if (!decoded) return false;
            result = std::move(decoded);
            return true;
        }
        bool adopt_bytes(std::string_view prefix, std::string&& bytes) override {
            if constexpr (byte_string) {
                const auto length = decode<std::uint64_t>(prefix);
                if (!length || *length != bytes.size()) return false;
                result.emplace(std::move(bytes));
                return true;
            } else {
                return false;
            }
        }
        std::function<detail::computed_value()> detach() override {
            if constexpr ((std::is_copy_constructible_v<std::remove_cvref_t<A>> && ...)) {
                return [fn = fn, copies = std::tuple<std::remove_cvref_t<A>...>(args)]() mutable {
                    result_type value = std::apply([&fn](auto&... a) { return std::invoke(*fn, a...); }, copies);
                    return detail::encode_result(value);
                };
            } else {
                return {};  // arguments cannot be copied: the engine refreshes in the caller's thread
            }
        }

        void take(const void* kept) override { result.emplace(*static_cast<const result_type*>(kept)); }
        void take_shared(std::shared_ptr<const void> kept) override {
            if (wants_shared) {
                shared_result = std::static_pointer_cast<const result_type>(std::move(kept));
            } else {
                take(kept.get());
            }
        }
        std::shared_ptr<const void> share() override {
            if (!wants_shared) return std::make_shared<const result_type>(*result);
            // The caller gets the very value the tier keeps.
            if (!shared_result) shared_result = std::make_shared<const result_type>(std::move(*result));
            return shared_result;
        }

        const std::shared_ptr<const F>& fn;
        argument_refs args;
        std::optional<result_type> result;
        bool wants_shared;
        std::shared_ptr<const result_type> shared_result;  // set instead of `result` in shared calls
    };

    std::shared_ptr<detail::function_state> state_;
    std::shared_ptr<const F> fn_;
    KeyFn key_fn_;
};

/// Wraps `fn` in a persistent cache named `name` (upstream: the @cachier decorator). The name
/// identifies the cache across threads, processes and machines: give each function its own.
/// `fn` may be a function, a lambda, a function object, std::function, a pointer to member
/// function (the object is the first argument and takes part in the key) or exclude_object(...).
template <class F>
[[nodiscard]] auto cachier(std::string name, F fn, options opts = {}) {
    using stored = std::decay_t<F>;
    return cached_function<stored>(detail::make_function_state(std::move(name), std::move(opts)),
                                   std::make_shared<const stored>(std::move(fn)), detail::argument_key{});
}

}  // namespace cachier
