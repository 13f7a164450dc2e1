// The metrics HTTP server: routes, and bad input that must cost bounded time and memory and
// never stop it from answering the next scraper.
#include <array>
#include <chrono>
#include <string>
#include <thread>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>

#include "control/metrics_http.hpp"

namespace iscsikit::control {
namespace {

using asio::ip::tcp;

TEST(RouteRequest, GetMetricsIsOkWithOrWithoutQueryAndHeaders) {
    EXPECT_EQ(route_request("GET /metrics HTTP/1.1\r\nHost: x").status, 200);
    EXPECT_EQ(route_request("GET /metrics?name[]=a HTTP/1.0").status, 200);
    EXPECT_EQ(route_request("GET /metrics HTTP/1.1\nHost: x\nAccept: */*").status, 200);  // bare LF
    auto head = route_request("HEAD /metrics HTTP/1.1");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.head_only);
}

TEST(RouteRequest, OtherPathsAreNotFoundAndOtherMethodsNotAllowed) {
    EXPECT_EQ(route_request("GET / HTTP/1.1").status, 404);
    EXPECT_EQ(route_request("GET /metricsx HTTP/1.1").status, 404);
    EXPECT_EQ(route_request("POST /metrics HTTP/1.1\r\nContent-Length: 0").status, 405);
    EXPECT_EQ(route_request("DELETE / HTTP/1.1").status, 405);
}

TEST(RouteRequest, MalformedHeadsAreBadRequests) {
    EXPECT_EQ(route_request("").status, 400);
    EXPECT_EQ(route_request("GET").status, 400);
    EXPECT_EQ(route_request("GET /metrics").status, 400);
    EXPECT_EQ(route_request("GET  /metrics HTTP/1.1").status, 400);  // two spaces
    EXPECT_EQ(route_request("GET /metrics HTTP/1.1 extra").status, 400);
    EXPECT_EQ(route_request("G(T /metrics HTTP/1.1").status, 400);
    EXPECT_EQ(route_request("GET /metrics SPDY/3.1").status, 400);
    EXPECT_EQ(route_request("GET /metrics HTTP/1.1\r\nno colon here").status, 400);
    EXPECT_EQ(route_request(std::string("GET /metrics HTTP/1.1\r\nA\0B: c", 29)).status, 400);
    EXPECT_EQ(route_request("GET /metrics HTTP/2.0").status, 505);
}

class MetricsHttp : public ::testing::Test {
protected:
    MetricsHttpOptions options() {
        MetricsHttpOptions o;
        o.timeout = std::chrono::milliseconds(300);
        o.max_request_bytes = 1024;
        o.max_clients = 4;
        return o;
    }
    void SetUp() override {
        server_ = std::make_unique<MetricsHttpServer>(
            iscsi::Portal{"127.0.0.1", 0}, [] { return std::string("up 1\n"); }, options());
    }
    // Sends `request`, then reads until the server closes; the whole answer.
    std::string exchange(const std::string& request) {
        asio::io_context io;
        tcp::socket socket(io);
        socket.connect(server_->local_endpoint());
        asio::write(socket, asio::buffer(request));
        std::string answer;
        std::array<char, 4096> chunk;
        std::error_code ec;
        for (;;) {
            const auto n = socket.read_some(asio::buffer(chunk), ec);
            if (ec) break;
            answer.append(chunk.data(), n);
        }
        return answer;
    }
    std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(MetricsHttp, GetMetricsAnswersTheRenderedTextAndCloses) {
    const auto answer = exchange("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
    EXPECT_NE(answer.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
    EXPECT_NE(answer.find("Content-Length: 5\r\n"), std::string::npos);
    EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(answer.substr(answer.size() - 5), "up 1\n");
}

TEST_F(MetricsHttp, HeadHasNoBodyOtherPathIs404OtherMethodIs405) {
    const auto head = exchange("HEAD /metrics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
    EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
    EXPECT_EQ(exchange("GET /other HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
    const auto post = exchange("POST /metrics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(post.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u);
    EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
}

TEST_F(MetricsHttp, GarbageIsABadRequest) {
    EXPECT_EQ(exchange(std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n\n", 13)).rfind("HTTP/1.1 400", 0),
              0u);
}

TEST_F(MetricsHttp, AHeadLargerThanTheBoundIs431) {
    std::string request = "GET /metrics HTTP/1.1\r\nX-Long: " + std::string(4096, 'a') + "\r\n\r\n";
    EXPECT_EQ(exchange(request).rfind("HTTP/1.1 431", 0), 0u);
}

TEST_F(MetricsHttp, AClientThatNeverFinishesItsRequestIsClosedAtTheTimeout) {
    const auto start = std::chrono::steady_clock::now();
    const auto answer = exchange("GET /metrics HTTP/1.1\r\n");  // no empty line: the head never ends
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(answer.empty()) << answer;
    EXPECT_GE(waited, std::chrono::milliseconds(250));
    EXPECT_LT(waited, std::chrono::seconds(5));
}

TEST_F(MetricsHttp, IdleClientsBeyondTheLimitAreClosedAndTheServerStillAnswersLater) {
    asio::io_context io;
    std::vector<tcp::socket> idle;
    for (int i = 0; i < 8; ++i) {
        idle.emplace_back(io);
        idle.back().connect(server_->local_endpoint());
    }
    // The first four hold their slots until the timeout; the others were closed at once.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    idle.clear();
    EXPECT_EQ(exchange("GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

TEST(MetricsHttpServer, ABadAddressIsAnErrorThatNamesIt) {
    try {
        MetricsHttpServer server(iscsi::Portal{"not-an-address", 9460}, [] { return std::string(); });
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("not-an-address"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace iscsikit::control
