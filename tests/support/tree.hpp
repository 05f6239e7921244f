#pragma once
// A recursive user type, for the tests of nesting limits.

#include <cstdint>
#include <vector>

namespace cachier::test {

/// A tree node: each level of the tree is two levels of nesting (the node and its children).
struct tree {
    std::int32_t value = 0;
    std::vector<tree> children;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(value, children);
    }
    friend bool operator==(const tree&, const tree&) = default;
};

}  // namespace cachier::test
