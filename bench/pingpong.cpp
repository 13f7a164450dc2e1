// pingpong: the floor under a QD1 iSCSI read over loopback. Two processes (a forked server and
// this client) exchange what a 4 KiB READ costs on the wire without any SCSI or iSCSI work: the
// client sends 48 bytes (a SCSI Command PDU's header), the server answers 4096 + 48 bytes (one
// Data-In PDU with the status in it), one exchange at a time, TCP_NODELAY on both ends.
// bench/compare.sh divides each target's QD1 4 KiB read round trip by the mean printed here, and
// sets each side's CPU time per round trip beside the client's and the target's per QD1 read.
//
//   pingpong [--seconds S] [--request BYTES] [--response BYTES] [--json]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    double seconds = 3;
    std::size_t request_bytes = 48;
    std::size_t response_bytes = 4096 + 48;
    bool json = false;
};

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

void set_nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) fail("setsockopt(TCP_NODELAY)");
}

// false when the peer closed the connection before the first byte
bool read_exact(int fd, std::byte* data, std::size_t size) {
    for (std::size_t done = 0; done < size;) {
        const ssize_t n = recv(fd, data + done, size - done, 0);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n == 0) {
            if (done == 0) return false;
            errno = ECONNRESET;
            fail("recv");
        } else if (errno != EINTR) {
            fail("recv");
        }
    }
    return true;
}

void write_exact(int fd, const std::byte* data, std::size_t size) {
    for (std::size_t done = 0; done < size;) {
        const ssize_t n = send(fd, data + done, size - done, MSG_NOSIGNAL);
        if (n >= 0)
            done += static_cast<std::size_t>(n);
        else if (errno != EINTR)
            fail("send");
    }
}

// The server: one connection, answer every request until the client closes.
int serve(int listener, const Options& opt) {
    const int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) fail("accept");
    close(listener);
    set_nodelay(fd);
    std::vector<std::byte> request(opt.request_bytes), response(opt.response_bytes, std::byte{0x5a});
    while (read_exact(fd, request.data(), request.size())) write_exact(fd, response.data(), response.size());
    close(fd);
    return 0;
}

Options parse(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--seconds")
            opt.seconds = std::stod(value());
        else if (arg == "--request")
            opt.request_bytes = std::stoul(value());
        else if (arg == "--response")
            opt.response_bytes = std::stoul(value());
        else if (arg == "--json")
            opt.json = true;
        else
            throw std::invalid_argument("usage: pingpong [--seconds S] [--request BYTES] [--response BYTES] [--json]");
    }
    if (opt.seconds <= 0 || opt.request_bytes == 0 || opt.response_bytes == 0)
        throw std::invalid_argument("--seconds, --request and --response must be positive");
    return opt;
}

double cpu_seconds(const rusage& r) {
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

int run(const Options& opt) {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) fail("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // any free port
    socklen_t len = sizeof addr;
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
    if (listen(listener, 1) != 0) fail("listen");
    if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) fail("getsockname");

    const pid_t server = fork();
    if (server < 0) fail("fork");
    if (server == 0) {
        try {
            _exit(serve(listener, opt));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "pingpong server: %s\n", e.what());
            _exit(1);
        }
    }
    close(listener);

    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket");
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
    set_nodelay(fd);
    std::vector<std::byte> request(opt.request_bytes, std::byte{0xa5}), response(opt.response_bytes);

    // Warm up (connection, caches, the server scheduled once) before measuring.
    for (int i = 0; i < 1000; ++i) {
        write_exact(fd, request.data(), request.size());
        read_exact(fd, response.data(), response.size());
    }
    std::vector<double> round_trips_us;
    round_trips_us.reserve(1 << 20);
    const auto start = Clock::now();
    const auto deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.seconds));
    auto now = start;
    rusage client_before{}, client_after{}, server_usage{};
    getrusage(RUSAGE_SELF, &client_before);
    while (now < deadline) {
        const auto sent = now;
        write_exact(fd, request.data(), request.size());
        if (!read_exact(fd, response.data(), response.size())) {
            errno = ECONNRESET;
            fail("the server closed the connection");
        }
        now = Clock::now();
        round_trips_us.push_back(std::chrono::duration<double, std::micro>(now - sent).count());
    }
    getrusage(RUSAGE_SELF, &client_after);
    const double seconds = std::chrono::duration<double>(now - start).count();
    close(fd);
    int status = 0;
    waitpid(server, &status, 0);
    getrusage(RUSAGE_CHILDREN, &server_usage);

    const auto count = round_trips_us.size();
    const double mean = seconds * 1e6 / static_cast<double>(count);
    // CPU time (user + system) per round trip: the client's over the measured loop; the server's
    // over its whole life, which adds the warm-up's 1000 exchanges (and a connect) to the count.
    const double client_cpu =
        (cpu_seconds(client_after) - cpu_seconds(client_before)) * 1e6 / static_cast<double>(count);
    const double server_cpu = cpu_seconds(server_usage) * 1e6 / static_cast<double>(count + 1000);
    std::nth_element(round_trips_us.begin(), round_trips_us.begin() + count / 2, round_trips_us.end());
    const double p50 = round_trips_us[count / 2];
    if (opt.json)
        std::printf(
            "{\"request_bytes\": %zu, \"response_bytes\": %zu, \"seconds\": %.6f, \"round_trips\": %zu, "
            "\"mean_rtt_us\": %.3f, \"p50_rtt_us\": %.3f, \"client_cpu_us\": %.3f, \"server_cpu_us\": %.3f}\n",
            opt.request_bytes, opt.response_bytes, seconds, count, mean, p50, client_cpu, server_cpu);
    else
        std::printf(
            "%zu round trips of %zu + %zu bytes in %.2f s: mean %.2f µs, p50 %.2f µs; CPU per round trip: client "
            "%.2f µs, server %.2f µs\n",
            count, opt.request_bytes, opt.response_bytes, seconds, mean, p50, client_cpu, server_cpu);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse(argc, argv));
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "pingpong: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pingpong: %s\n", e.what());
        return 1;
    }
}
