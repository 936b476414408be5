#include "http/server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <optional>
#include <span>
#include <vector>

namespace p2p::http {
namespace {

using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

// Best effort, never blocking: a response to a client we are about to drop.
void send_and_forget(asio::ip::tcp::socket& socket, const Response& r) {
  std::string out;
  serialize(r, nullptr, false, out);
  std::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(out), ec);
}

// The watchdog's view of one connection: when its deadline passes, the reader is cancelled.
struct Deadline {
  Clock::time_point at;
};

// True when the deadline passed; false when cancelled because the connection ended first.
asio::awaitable<bool> watchdog(Deadline& deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    if (deadline.at <= Clock::now()) co_return true;
    timer.expires_at(deadline.at);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return false;
  }
}

using TlsStream = asio::ssl::stream<asio::ip::tcp::socket&>;

// A TLS connection starts with a handshake record (content type 22). Reads the first byte
// without consuming it; false when the client sent something else (or nothing). A plain
// HTTP request is answered with a 400 that says to use https (counted as such), and what
// it sent is read and dropped, so that closing does not reset the connection before the
// client has read the answer.
asio::awaitable<bool> starts_with_tls(asio::ip::tcp::socket& socket, metrics::Counter& plain) {
  auto [wec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_read, use_nothrow);
  if (wec) co_return false;
  unsigned char first = 0;
  std::error_code ec;
  const size_t n = socket.receive(asio::buffer(&first, 1), asio::socket_base::message_peek, ec);
  if (ec || n == 0) co_return false;
  if (first == 0x16) co_return true;
  if (first >= 'A' && first <= 'Z') {
    plain.add();
    auto r = json_error(400, "this port speaks HTTPS: use an https:// URL");
    r.close = true;
    std::string out;
    serialize(r, nullptr, false, out);
    co_await asio::async_write(socket, asio::buffer(out), use_nothrow);
    socket.shutdown(asio::socket_base::shutdown_send, ec);
    // Until the client closes (it was told Connection: close), within the deadline and
    // 64 KiB.
    std::array<char, 4096> sink;
    for (int i = 0; i < 16; ++i) {
      auto [rec, got] = co_await socket.async_read_some(asio::buffer(sink), use_nothrow);
      if (rec) break;
    }
  }
  co_return false;
}

}  // namespace

Server::Server(asio::io_context& ctx, Handler handler, ServerLimits limits)
    : ctx_(ctx), handler_(std::move(handler)), limits_(limits), acceptor_(asio::make_strand(ctx)) {
  // sendfile has no MSG_NOSIGNAL: a client gone mid-body would raise SIGPIPE and kill the
  // process. Every write here checks its error (EPIPE) instead.
  ::signal(SIGPIPE, SIG_IGN);
}

asio::ip::tcp::endpoint Server::listen(const std::string& ip, uint16_t port) {
  const asio::ip::tcp::endpoint ep(asio::ip::make_address(ip), port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  if (ep.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint();
}

// The acceptor lives on its strand: stop() may come from any thread while the accept loop
// runs on another.
void Server::start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

void Server::stop() {
  asio::dispatch(acceptor_.get_executor(), [this] {
    std::error_code ignored;
    acceptor_.close(ignored);
  });
}

void Server::close_connections() {
  std::lock_guard lock(live_->mu);
  for (const auto& [id, entry] : live_->sockets) {
    asio::post(entry.first, [live = live_, id = id] {
      std::lock_guard lock(live->mu);
      const auto it = live->sockets.find(id);
      if (it == live->sockets.end()) return;  // it ended meanwhile
      std::error_code ignored;
      it->second.second->shutdown(asio::socket_base::shutdown_both, ignored);
      it->second.second->close(ignored);
    });
  }
}

asio::awaitable<void> Server::accept_loop() {
  for (;;) {
    asio::ip::tcp::socket socket = limits_.multithreaded
                                       ? asio::ip::tcp::socket(asio::make_strand(ctx_))
                                       : asio::ip::tcp::socket(ctx_);
    auto [ec] = co_await acceptor_.async_accept(socket, use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: say so, breathe, keep serving the connections we have.
      spdlog::warn("HTTP accept failed: {}", ec.message());
      asio::steady_timer pause(ctx_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    if (connections_->load(std::memory_order_relaxed) >= limits_.max_connections) {
      // Over TLS a plain answer would be garbage to the client: the connection is just closed.
      if (!tls_)
        send_and_forget(socket, [] {
          auto r = json_error(503, "too many connections; try again later");
          r.close = true;
          return r;
        }());
      continue;
    }
    auto ex = socket.get_executor();
    asio::co_spawn(ex, serve(std::move(socket)), asio::detached);
  }
}

// One connection: its state, and the steps that serve it, each a short coroutine that reads
// top to bottom (the model is Asio's refactored_echo_server: the loop and the one exchange
// apart).
template <class Stream>
struct Server::Connection {
  static constexpr bool is_tls = std::is_same_v<Stream, TlsStream>;

  Connection(Server& s, Stream& st, asio::ip::tcp::socket& so)
      : server(s),
        stream(st),
        socket(so),
        deadline{Clock::now() + s.limits_.idle_timeout},
        parser(s.limits_.parser) {
    std::error_code ec;
    local = so.local_endpoint(ec);
    remote = so.remote_endpoint(ec);
  }

  // Serves requests until the client goes, the connection must close, or the deadline
  // passes.
  asio::awaitable<void> run() {
    const auto ended = co_await (exchanges() || watchdog(deadline));
    if (ended.index() == 1 && std::get<1>(ended)) timed_out();
  }

  // The read loop: every chunk that arrives is parsed and answered, then written.
  asio::awaitable<void> exchanges() {
    if (!co_await handshake()) co_return;
    // Requests are small: 4 KiB holds several pipelined ones, and keeps an idle
    // connection at about 9 kB of RSS (16 KiB: 20 kB).
    std::array<char, 4 * 1024> buf;
    for (;;) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(buf), use_nothrow);
      if (rec) co_return;
      pending = std::string_view(buf.data(), n);
      if (!co_await answer_all()) co_return;
      if (!co_await flush()) co_return;
      if (closing) {
        co_await close();
        co_return;
      }
      // A request that is still arriving must finish within the timeout that started
      // with its first bytes; an idle keep-alive connection gets a fresh one.
      if (!parser.mid_request()) extend_deadline();
    }
  }

  // TLS only: the client's first bytes must be a handshake, and it must succeed. It is
  // bounded by the same deadline as a request.
  asio::awaitable<bool> handshake() {
    if constexpr (is_tls) {
      if (!co_await starts_with_tls(socket, server.rejected_->at(kPlainHttpOnHttps)))
        co_return false;
      auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_nothrow);
      if (hec) {
        server.rejected_->at(kTlsHandshakeFailed).add();
        spdlog::debug("TLS handshake with {} failed: {}", remote.address().to_string(),
                      hec.message());
        co_return false;
      }
    }
    co_return true;
  }

  // Parses what is pending and answers each complete request in it, in order; false when
  // writing failed and the connection is gone. A streamed request's body is read by its
  // route (through `BodyStream`), which may read beyond `pending`: what follows its body
  // becomes `pending` again.
  asio::awaitable<bool> answer_all() {
    while (!pending.empty() && !closing) {
      const auto res = parser.feed(pending);
      pending.remove_prefix(res.consumed);
      if (res.state == RequestParser::State::need_more) break;
      if (res.state == RequestParser::State::error) {
        refuse();
        break;
      }
      if (!co_await answer(parser.request(), res.state == RequestParser::State::headers_ready))
        co_return false;
    }
    co_return true;
  }

  // A request the parser refused: its error answer is queued, and the connection closes.
  void refuse() {
    const int status = parser.error_status();
    server.rejected_
        ->at(status == 413   ? kBodyTooLarge
             : status == 414 ? kUriTooLong
             : status == 431 ? kHeadersTooLarge
                             : kBadRequest)
        .add();
    auto r = json_error(status, parser.error_message());
    r.close = true;
    serialize(r, nullptr, false, out);
    closing = true;
  }

  // Runs the handler for one request and queues its response; a shared or file body is
  // written at once, after what is queued, never copied by us. False when that write
  // failed. A streamed request (`streamed`: its headers only have been parsed) hands the
  // route a BodyStream; a body the route left unread closes the connection.
  asio::awaitable<bool> answer(Request& req, bool streamed) {
    extend_deadline();
    ++served;
    req.local = local;
    req.remote = remote;
    std::optional<BodyStream> body_stream;
    if (streamed) req.body_reader = &body_stream.emplace(*this, req);
    Response r = co_await server.handler_(req);
    req.body_reader = nullptr;
    if (!req.keep_alive || (body_stream && !body_stream->ended())) r.close = true;
    const bool head = req.method == "HEAD";
    serialize(r, &req, head, out);
    closing = r.close;
    if (head) co_return true;
    if (r.file_body) co_return co_await send_file_body(*r.file_body);
    if (!r.shared_body) co_return true;
    const SharedBody& body = *r.shared_body;
    bool ok;
    if (!is_tls && body.fd() >= 0) {
      ok = co_await send_queued() && co_await send_file(body.fd(), 0, body.size(), nullptr);
    } else {
      // One writev: the headers and the body together.
      const std::array<asio::const_buffer, 2> pieces{asio::buffer(out), asio::buffer(body.bytes())};
      auto [wec, written] = co_await asio::async_write(stream, pieces, use_nothrow);
      ok = !wec;
    }
    out.clear();
    co_return ok;
  }

  // The body a route reads while it arrives: first what the connection's last read holds
  // beyond the headers, then straight from the stream into the route's buffer (no copy
  // for a Content-Length body; a chunked one's framing is squeezed out in place).
  struct BodyStream final : BodyReader {
    BodyStream(Connection& c, const Request& req)
        : c(c),
          left(req.content_length),
          expects_continue(req.http_minor >= 1 &&
                           iequals(req.header(Header::expect), "100-continue")) {}

    bool ended() const { return done; }

    asio::awaitable<std::optional<size_t>> read(std::span<char> into) override {
      // Each turn consumes bytes or reads some: a chunk header alone gives no body yet.
      for (;;) {
        if (done) co_return 0;
        if (failed || into.empty()) co_return std::nullopt;
        size_t got = 0;
        if (!c.pending.empty()) {
          got = take(c.pending, into.data(), into.size());
        } else {
          if (!co_await continue_once()) co_return fail();
          // A Content-Length body is read no further than its end: what follows is the
          // next request, and stays unread until then.
          const size_t want =
              left ? static_cast<size_t>(std::min<uint64_t>(*left, into.size())) : into.size();
          auto [rec, n] =
              co_await c.stream.async_read_some(asio::buffer(into.data(), want), use_nothrow);
          if (rec) co_return fail();
          c.extend_deadline();
          std::string_view arrived(into.data(), n);
          got = take(arrived, into.data(), n);
          if (!arrived.empty()) {
            // A chunked body's end and the start of the next request came in one read.
            c.carry.assign(arrived);
            c.pending = c.carry;
          }
        }
        if (failed) co_return std::nullopt;
        if (got > 0) co_return got;
      }
    }

    // Before each read from the socket: what is queued for earlier requests, then "100
    // Continue", once, if the client waits for it.
    asio::awaitable<bool> continue_once() {
      // The answers to earlier pipelined requests go first (and do not wait for the body).
      if (!co_await c.flush()) co_return false;
      if (!expects_continue || continued) co_return true;
      continued = true;
      static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, w] = co_await asio::async_write(c.stream, asio::buffer(k100), use_nothrow);
      co_return !wec;
    }

    // Feeds `data` to the parser, the body going to `out`; consumes what it used and
    // returns the body bytes it gave.
    size_t take(std::string_view& data, char* out, size_t room) {
      const auto r = c.parser.feed_body(data, out, room);
      data.remove_prefix(r.consumed);
      if (r.state == RequestParser::State::error) {
        fail();
        return 0;
      }
      if (r.state == RequestParser::State::request_ready) done = true;
      if (left) *left -= r.body_bytes;
      return r.body_bytes;
    }

    std::nullopt_t fail() {
      failed = true;
      return std::nullopt;
    }

    Connection& c;
    std::optional<uint64_t> left;  // of a Content-Length body
    const bool expects_continue;
    bool continued = false;
    bool done = false;
    bool failed = false;
  };

  // What is queued, with MSG_MORE: it leaves in one segment with the body's start.
  asio::awaitable<bool> send_queued() {
    if (!non_blocking()) co_return false;
    for (size_t sent = 0; sent < out.size();) {
      const ssize_t n = ::send(socket.native_handle(), out.data() + sent, out.size() - sent,
                               MSG_MORE | MSG_NOSIGNAL);
      if (n >= 0) {
        sent += static_cast<size_t>(n);
      } else if (errno == EAGAIN) {
        if (!co_await writable()) co_return false;
      } else if (errno != EINTR) {
        co_return false;
      }
    }
    out.clear();
    co_return true;
  }

  // A file's range after what is queued: with sendfile from the file to the socket, or
  // over TLS a chunk at a time through the stream. Told how much went out.
  asio::awaitable<bool> send_file_body(FileBody& body) {
    uint64_t sent = 0;
    bool ok;
    if constexpr (is_tls) {
      ok = co_await flush() && co_await send_through_stream(body, sent);
    } else {
      // A large body leaves in full segments (TCP_CORK, nginx's tcp_nopush): the headers
      // and the file's pages coalesce; uncorking at the end pushes out the rest.
      const bool cork = body.length() >= kCorkFrom && set_cork(true);
      ok = co_await send_queued() &&
           co_await send_file(body.fd(), body.offset(), body.length(), &body, &sent);
      if (cork) set_cork(false);
    }
    body.finished(sent);
    out.clear();
    co_return ok;
  }

  // `size` bytes of `fd` from `offset` with sendfile, waiting whenever the socket is full
  // and, every piece, for `pace` (and for other connections' turn). False when the
  // connection failed or the file ended early (it shrank): the client then sees a body
  // short of its length, and the connection closes.
  asio::awaitable<bool> send_file(int fd, uint64_t offset, uint64_t size, FileBody* pace,
                                  uint64_t* sent = nullptr) {
    if (!non_blocking()) co_return false;
    const uint64_t piece = pace ? pace->piece() : kYieldEvery;
    off_t at = static_cast<off_t>(offset);
    const off_t end = static_cast<off_t>(offset + size);
    while (at < end) {
      const uint64_t n = std::min<uint64_t>(piece, static_cast<uint64_t>(end - at));
      if (pace && !co_await pace->pace(n)) co_return false;
      const off_t piece_end = at + static_cast<off_t>(n);
      while (at < piece_end) {
        const ssize_t w =
            ::sendfile(socket.native_handle(), fd, &at, static_cast<size_t>(piece_end - at));
        if (sent) *sent = static_cast<uint64_t>(at) - offset;
        if (w > 0) continue;
        if (w == 0) co_return false;  // the file ended before its length
        if (errno == EAGAIN) {
          if (!co_await writable()) co_return false;
          extend_deadline();
        } else if (errno != EINTR) {
          co_return false;
        }
      }
      if (pace) pace->progressed(n);
      // Progress, however slow (a rate limit may keep the socket from ever filling).
      extend_deadline();
      // A client that keeps up would never make sendfile wait: let the others have a turn.
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    }
    co_return true;
  }

  // TLS: the range read a chunk at a time (pread) and written through the stream.
  asio::awaitable<bool> send_through_stream(FileBody& body, uint64_t& sent) {
    std::vector<char> chunk(kTlsChunk);
    while (sent < body.length()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kTlsChunk, body.length() - sent));
      if (!co_await body.pace(n)) co_return false;
      const ssize_t got =
          ::pread(body.fd(), chunk.data(), n, static_cast<off_t>(body.offset() + sent));
      if (got <= 0) co_return false;  // an error, or the file shrank
      auto [wec, w] = co_await asio::async_write(
          stream, asio::buffer(chunk.data(), static_cast<size_t>(got)), use_nothrow);
      if (wec) co_return false;
      sent += static_cast<uint64_t>(got);
      body.progressed(static_cast<uint64_t>(got));
      extend_deadline();
    }
    co_return true;
  }

  static constexpr uint64_t kYieldEvery = 4 * 1024 * 1024;
  static constexpr uint64_t kCorkFrom = 256 * 1024;
  static constexpr size_t kTlsChunk = 64 * 1024;

  // The socket in non-blocking mode for our own send and sendfile calls (once: each call
  // is an ioctl).
  bool non_blocking() {
    if (socket_non_blocking) return true;
    std::error_code ec;
    socket.native_non_blocking(true, ec);
    return socket_non_blocking = !ec;
  }

  bool set_cork(bool on) {
    const int v = on ? 1 : 0;
    return ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &v, sizeof v) == 0;
  }

  // False when the connection went, or the watchdog cancelled the wait.
  asio::awaitable<bool> writable() {
    auto [wec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_write, use_nothrow);
    co_return !wec;
  }

  // Writes the responses queued so far; false when the connection is gone.
  asio::awaitable<bool> flush() {
    if (out.empty()) co_return true;
    extend_deadline();
    auto [wec, written] = co_await asio::async_write(stream, asio::buffer(out), use_nothrow);
    out.clear();
    co_return !wec;
  }

  // TLS: no close_notify (waiting for the client's would hold the connection); the
  // response carried Connection: close and its length. What the client still sends (a
  // body we refused) is read and dropped for a moment, up to 1 MiB: closing with unread
  // bytes would reset the connection, and the client might lose our answer.
  asio::awaitable<void> close() {
    std::error_code ec;
    socket.shutdown(asio::socket_base::shutdown_send, ec);
    if (!parser.mid_request()) co_return;
    std::array<char, 4096> sink;
    asio::steady_timer linger(co_await asio::this_coro::executor, std::chrono::milliseconds(500));
    auto drain = [&]() -> asio::awaitable<void> {
      for (int i = 0; i < 256; ++i) {
        auto [rec, n] = co_await socket.async_read_some(asio::buffer(sink), use_nothrow);
        if (rec) co_return;
      }
    };
    co_await (drain() || linger.async_wait(use_nothrow));
  }

  // A connection that never completed a request, or stopped halfway through one, is told
  // why it is closed; an idle keep-alive connection is closed silently, since a client may
  // be sending its next request at this very moment and would misread a 408.
  // (Over TLS the connection is just closed: a plain answer would be garbage.)
  void timed_out() {
    if (!(parser.mid_request() || served == 0)) return;
    server.rejected_->at(kRequestTimeout).add();
    if constexpr (!is_tls) {
      auto r = json_error(408, "request not received in time");
      r.close = true;
      send_and_forget(socket, r);
    }
  }

  void extend_deadline() { deadline.at = Clock::now() + server.limits_.idle_timeout; }

  Server& server;
  Stream& stream;
  asio::ip::tcp::socket& socket;
  asio::ip::tcp::endpoint local;
  asio::ip::tcp::endpoint remote;
  Deadline deadline;
  RequestParser parser;
  uint64_t served = 0;       // requests answered
  std::string out;           // responses not yet written
  std::string_view pending;  // bytes read and not parsed yet
  std::string carry;     // what a streamed body's last read held beyond it (pending points here)
  bool closing = false;  // the last response said Connection: close
  bool socket_non_blocking = false;
};

asio::awaitable<void> Server::serve(asio::ip::tcp::socket socket) {
  connections_->fetch_add(1, std::memory_order_relaxed);
  struct Release {
    std::shared_ptr<std::atomic<size_t>> n;
    ~Release() { n->fetch_sub(1, std::memory_order_relaxed); }
  } release{connections_};

  // Registered for close_connections(), and removed on this executor before the socket goes.
  uint64_t id;
  {
    std::lock_guard lock(live_->mu);
    id = live_->next++;
    live_->sockets.emplace(id, std::make_pair(socket.get_executor(), &socket));
  }
  struct Unregister {
    std::shared_ptr<Live> live;
    uint64_t id;
    ~Unregister() {
      std::lock_guard lock(live->mu);
      live->sockets.erase(id);
    }
  } unregister{live_, id};

  std::error_code ec;
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  if (tls_) {
    TlsStream tls(socket, *tls_);
    Connection<TlsStream> connection(*this, tls, socket);
    co_await connection.run();
  } else {
    Connection<asio::ip::tcp::socket> connection(*this, socket, socket);
    co_await connection.run();
  }
  socket.close(ec);
}

void Server::write_metrics(metrics::Exposition& e) const {
  static constexpr std::array<const char*, kRejections> reasons{
      "bad_request",       "request_timeout",      "body_too_large",      "uri_too_long",
      "headers_too_large", "too_many_connections", "plain_http_on_https", "tls_handshake_failed"};
  e.family("p2p_http_rejected_total", "counter",
           "Requests and connections the REST server refused before any route saw them, by "
           "reason (400, 408, 413, 414, 431, 503 at the connection limit, plain HTTP on the "
           "HTTPS port, failed TLS handshakes).");
  for (size_t i = 0; i < kRejections; ++i)
    e.sample("p2p_http_rejected_total", {{"reason", reasons[i]}}, (*rejected_)[i].value());
}

}  // namespace p2p::http
