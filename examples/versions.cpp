// Entries one at a time, and versions of a function whose code changed.
//   example_versions /tmp/cachier-versions
// Prints how each call got its value, drops one entry by its arguments, then moves the function to
// version "v2" with the entries of every other version removed in the background.

#include <cstdio>
#include <string>

#include <cachier/cachier.hpp>

namespace {

int calls = 0;

double price(const std::string& product, int quantity) {
    ++calls;
    return quantity * (product == "widget" ? 2.5 : 4.0);
}

void show(const char* what, const cachier::call_result<double>& r) {
    std::printf("%-28s %6.2f  (%s)\n", what, r.value, std::string(cachier::to_string(r.status)).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    cachier::options opts;
    opts.backend = cachier::file_backend(argc > 1 ? argv[1] : "/tmp/cachier-versions");
    opts.version = "v1";
    auto quote = cachier::cachier("examples.versions.price", price, opts);
    quote.clear_cache();

    show("first call", quote.call_with_status({}, "widget", 4));
    show("second call", quote.call_with_status({}, "widget", 4));
    std::printf("peek at (gadget, 2): %s\n", quote.peek("gadget", 2) ? "stored" : "not stored");
    std::printf("invalidate (widget, 4): %s\n", quote.invalidate("widget", 4) ? "removed" : "was not stored");
    show("after invalidate", quote.call_with_status({}, "widget", 4));

    // The pricing rules changed: a new version never reads the old entries, and asks for them to go.
    opts.version = "v2";
    opts.cleanup_other_versions = true;
    auto quote_v2 = cachier::cachier("examples.versions.price", price, opts);
    show("version v2, first call", quote_v2.call_with_status({}, "widget", 4));
    cachier::wait_for_background_work();
    std::printf("version v1 after the cleanup: %s\n", quote.peek("widget", 4) ? "still stored" : "gone");
    std::printf("the function ran %d times\n", calls);
    return quote.peek("widget", 4) ? 1 : 0;
}
