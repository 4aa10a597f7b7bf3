// HTTPS listeners on Boost.Beast with C++20 coroutines.
//
// Shape follows Beast's advanced_server_flex example (one strand per
// connection, a timeout on every handshake, read and write, a body limit), with
// two deliberate differences (style.md): TLS contexts come from
// crypto::MakeTlsContext (never asio's tlsv12 constructor, which caps TLS at
// 1.2), and a stop drains instead of calling io_context::stop() at once.
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <algorithm>
#include <array>
#include <list>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "crypto/crypto.h"
#include "http/http.h"

namespace parley::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr size_t kHeaderLimit = 16 * 1024;
constexpr auto kLingerTimeout = std::chrono::seconds(5);
constexpr size_t kLingerMaxBytes = 64 << 20;

struct Listener {
  ListenerOptions options;
  Handler handler;
  std::unique_ptr<asio::ssl::context> tls;
  std::unique_ptr<tcp::acceptor> acceptor;
};

std::string PeerCertificatePem(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  std::string pem;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio && PEM_write_bio_X509(bio, cert) == 1) {
      char* data = nullptr;
      long n = BIO_get_mem_data(bio, &data);
      pem.assign(data, static_cast<size_t>(n));
    }
    BIO_free(bio);
  }
  X509_free(cert);
  return pem;
}

bhttp::response<bhttp::string_body> ToBeast(const Response& r, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
  for (const auto& [k, v] : r.headers) res.insert(k, v);  // insert: several Set-Cookie fields may be sent
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(int threads)
      : threads_(std::max(1, threads)), ioc_(std::make_unique<asio::io_context>(threads_)) {}
  ~ServerImpl() override {
    Drain(std::chrono::milliseconds(0));
    // Order matters: acceptors need the io_context; coroutine frames still
    // queued in the io_context reference the listeners' TLS contexts and the
    // session registry.
    for (auto& l : listeners_) l->acceptor.reset();
    ioc_.reset();
  }

  Result<uint16_t> AddListener(ListenerOptions options, Handler handler) override {
    auto l = std::make_unique<Listener>();
    std::string where = options.host + ":" + std::to_string(options.port);
    if (!options.tls) return InvalidArgument(options.name + ": no TLS context");
    // asio takes ownership of the native handle; the policy was applied by
    // crypto::MakeTlsContext.
    l->tls = std::make_unique<asio::ssl::context>(options.tls.release());
    boost::system::error_code ec;
    auto address = asio::ip::make_address(options.host, ec);
    if (ec) return ConfigError(options.name + ": \"" + options.host + "\" is not an IP address");
    tcp::endpoint endpoint(address, options.port);
    l->acceptor = std::make_unique<tcp::acceptor>(*ioc_);
    l->acceptor->open(endpoint.protocol(), ec);
    if (!ec) l->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) l->acceptor->bind(endpoint, ec);
    if (!ec) l->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable(options.name + ": cannot listen on " + where + ": " + ec.message());
    uint16_t port = l->acceptor->local_endpoint().port();
    l->options = std::move(options);
    l->handler = std::move(handler);
    listeners_.push_back(std::move(l));
    return port;
  }

  void Start() override {
    // Workers inherit this mask, so SIGTERM/SIGINT reach WaitForStopSignal's
    // sigwait and never interrupt a worker mid-request.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    for (auto& l : listeners_) asio::co_spawn(*ioc_, Accept(*l), asio::detached);
    for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { ioc_->run(); });
  }

  void Drain(std::chrono::milliseconds grace) override {
    if (stopped_.exchange(true)) return;
    draining_ = true;
    // Stop accepting, and wake idle keep-alive connections so they close.
    asio::post(*ioc_, [this] {
      for (auto& l : listeners_) {
        boost::system::error_code ec;
        l->acceptor->close(ec);
      }
    });
    CancelIdleSessions();
    {
      std::unique_lock lock(mu_);
      drained_.wait_for(lock, grace, [this] { return sessions_.empty(); });
      if (!sessions_.empty())
        log::warn("http: {} connection(s) still busy after the grace period; closing them", sessions_.size());
    }
    ioc_->stop();
    for (auto& t : workers_)
      if (t.joinable()) t.join();
    workers_.clear();
  }

 private:
  struct SessionState {
    beast::ssl_stream<beast::tcp_stream>* stream = nullptr;
    asio::any_io_executor executor;
    bool busy = false;  // a request is being read past its first byte or handled
  };

  void CancelIdleSessions() {
    std::lock_guard lock(mu_);
    for (auto* s : sessions_) {
      asio::post(s->executor, [this, s] {
        // Runs on the session's strand, so the session cannot end while we
        // look; it may have ended before, hence the membership check.
        {
          std::lock_guard inner(mu_);
          if (std::find(sessions_.begin(), sessions_.end(), s) == sessions_.end()) return;
        }
        // A connection waiting for its next request is closed; one whose
        // request is being handled finishes it (the handler is synchronous,
        // so a batch is committed or not, never half).
        if (!s->busy) beast::get_lowest_layer(*s->stream).cancel();
      });
    }
  }

  asio::awaitable<void> Accept(Listener& l) {
    for (;;) {
      auto [ec, socket] = co_await l.acceptor->async_accept(asio::make_strand(*ioc_), asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (draining_ || ec == asio::error::operation_aborted) co_return;
        log::warn("http: {} accept failed: {}", l.options.name, ec.message());
        continue;
      }
      // Answers are written in a few small pieces (TLS records): without
      // TCP_NODELAY, Nagle's algorithm holds the last one back for the
      // peer's delayed ACK, ~40 ms per answer.
      boost::system::error_code nodelay_ec;
      socket.set_option(tcp::no_delay(true), nodelay_ec);
      auto executor = socket.get_executor();
      asio::co_spawn(executor, Session(l, std::move(socket)), [name = l.options.name](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("http: {} connection ended by an unexpected error: {}", name, ex.what());
        }
      });
    }
  }

  asio::awaitable<void> Session(Listener& l, tcp::socket socket) {
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *l.tls);
    SessionState state{&stream, stream.get_executor(), false};
    {
      std::lock_guard lock(mu_);
      if (draining_) co_return;
      sessions_.push_back(&state);
    }
    struct Unregister {
      ServerImpl* self;
      SessionState* state;
      ~Unregister() {
        std::lock_guard lock(self->mu_);
        self->sessions_.remove(state);
        self->drained_.notify_all();
      }
    } unregister{this, &state};

    beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (hec) {
      log::debug("http: {} TLS handshake from {} refused: {}", l.options.name, remote, hec.message());
      co_return;
    }
    std::string client_cert = PeerCertificatePem(stream.native_handle());
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(static_cast<std::uint64_t>(l.options.body_limit));
      parser.header_limit(kHeaderLimit);
      beast::get_lowest_layer(stream).expires_after(l.options.read_timeout);
      state.busy = false;
      if (draining_) break;
      // Read the header first so that an idle keep-alive connection can be
      // told apart from one carrying a request.
      auto [rec, rn] = co_await bhttp::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      (void)rn;
      if (!rec) {
        state.busy = true;
        std::tie(rec, rn) = co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      }
      if (rec == bhttp::error::end_of_stream || rec == asio::error::operation_aborted ||
          rec == beast::error::timeout || rec == asio::ssl::error::stream_truncated)
        break;
      if (rec) {
        // A malformed or oversized request gets a JSON error, then the
        // connection closes (its framing can no longer be trusted).
        Error err = rec == bhttp::error::body_limit
                        ? PayloadTooLarge("request body exceeds " + std::to_string(l.options.body_limit) + " bytes")
                        : InvalidArgument("malformed HTTP request: " + rec.message());
        auto res = ToBeast(Response::FromError(err), 11, false);
        beast::get_lowest_layer(stream).expires_after(kWriteTimeout);
        co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        // Lingering close: the client may still be sending the body we
        // refused. Closing now would make the kernel answer its data with a
        // reset, which can destroy our error response before the client
        // reads it. So read and discard (bounded in bytes and time) first.
        beast::get_lowest_layer(stream).expires_after(kLingerTimeout);
        std::array<char, 16 * 1024> scratch;
        for (size_t drained = 0; drained < kLingerMaxBytes;) {
          auto [dec, dn] = co_await stream.async_read_some(asio::buffer(scratch), asio::as_tuple(asio::use_awaitable));
          if (dec) break;
          drained += dn;
        }
        break;
      }
      state.busy = true;
      auto& req = parser.get();
      Request request;
      request.method = std::string(req.method_string());
      request.target = std::string(req.target());
      for (const auto& field : req) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        request.headers[name] = std::string(field.value());
      }
      request.body = std::move(req.body());
      request.remote_address = remote;
      request.client_cert_pem = client_cert;
      Response response;
      if (auto st = ParseTarget(request.target, request.path, request.query); !st.ok()) {
        response = Response::FromError(st.error());
      } else {
        try {
          response = l.handler(request);
        } catch (const std::exception& ex) {
          std::string incident = crypto::RandomUuid();
          log::error("http: {} handler failed (incident {}): {}", l.options.name, incident, ex.what());
          response = Response::FromError(Internal("unexpected server error; incident " + incident));
        }
      }
      bool keep_alive = req.keep_alive() && !draining_;
      auto res = ToBeast(response, req.version(), keep_alive);
      if (req.method() == bhttp::verb::head) res.body().clear();
      beast::get_lowest_layer(stream).expires_after(kWriteTimeout);
      auto [wec, wn] = co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      (void)wn;
      if (wec || !keep_alive) break;
    }
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  }

  std::mutex mu_;
  std::condition_variable drained_;
  std::list<SessionState*> sessions_;  // guarded by mu_
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  int threads_;
  std::unique_ptr<asio::io_context> ioc_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<Server> Server::Create(int threads) { return std::make_unique<ServerImpl>(threads); }

int Server::WaitForStopSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace parley::http
