#pragma once
// Helpers shared by the SQLite and PostgreSQL backend tests.

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/test_support.hpp"

namespace cachier::test::sql {

using cachier::test::worker_process;


inline cachier::options on(const std::string& url) {
    cachier::options o;
    o.backend = cachier::sql_backend(url);
    o.enable_metrics = true;
    return o;
}

inline std::string with_table(const std::string& url, const std::string& table) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "table=" + table;
}

inline std::string unique_table() {
    static int n = 0;
    return "t" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

inline std::string url_error_part(const std::string& url) {
    try {
        (void)cachier::sql_backend(url);
    } catch (const cachier::url_error& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
        return e.part();
    }
    return "no error";
}

inline int count_computed(const std::filesystem::path& log) {
    const auto lines = cachier::test::read_lines(log);
    return static_cast<int>(
        std::count_if(lines.begin(), lines.end(), [](const auto& l) { return l.rfind("computed", 0) == 0; }));
}

inline void race_six_processes(const std::string& url, const std::filesystem::path& log) {
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < 6; ++i)
        workers.push_back(std::make_unique<worker_process>(
            std::vector<std::string>{"compute", url, "sql.race", "9", "300", log.string()}));
    for (auto& w : workers) EXPECT_EQ(w->wait(), 0);
    EXPECT_EQ(count_computed(log), 1);
}

// Six processes make their first call at once on a table nobody created yet.
inline void first_use_from_six_processes(const std::string& url, const std::filesystem::path& log) {
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < 6; ++i)
        workers.push_back(std::make_unique<worker_process>(
            std::vector<std::string>{"compute", url, "sql.first_use", std::to_string(i), "0", log.string()}));
    for (auto& w : workers) EXPECT_EQ(w->wait(), 0) << "a process failed while the schema was being created";
    EXPECT_EQ(count_computed(log), 6);
}


}  // namespace cachier::test::sql
