// host::WireChannel: the bytes between a guest's wire-protocol callbacks and
// the host, for one request at a time.
//
// PGlite's backend reads its frontend messages through a read callback and
// flushes its backend messages through a write callback (callbacks.cc); a
// client program (pg_dump.wasm) uses the same two callbacks as its libpq
// socket. This class is what those callbacks serve and fill: it knows
// protocol framing (where messages end, CopyInResponse, CopyDone/CopyFail)
// but nothing of guest memory, so it is plain bytes in, bytes out.
//
// Threads: the guest thread only, like its Host.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace pgthaw::host {

class WireChannel {
 public:
  // Asks the running statement to stop, when the request's output passes
  // its cap or its sink's client is gone (the Host raises
  // QueryCancelPending); and withdraws that request at the request's end if
  // the backend has not consumed it, or it would cancel the next statement.
  struct StatementStop {
    std::function<void()> stop;
    std::function<void()> withdraw;
  };
  // For a client program: the server at the other end. Each write goes to
  // it, and it appends the server's answer to `reply`, which reads drain.
  using Peer = std::function<void(std::string_view request, std::string& reply)>;
  // COPY FROM STDIN's data (see SetInputSource).
  using InputSource = std::function<void(std::string& more)>;
  // A long reply's complete messages as they are made; false: the client is
  // gone (see BeginOutput).
  using OutputSink = std::function<bool(std::string& messages)>;
  static constexpr size_t kStreamChunkBytes = 256 * 1024;

  WireChannel(StatementStop stop, Peer peer) : stop_(std::move(stop)), peer_(std::move(peer)) {}

  bool has_peer() const { return static_cast<bool>(peer_); }

  // --- the host's side -------------------------------------------------------
  // The request's frontend messages, which reads serve.
  void SetInput(std::string_view input) {
    input_ = input;
    input_pos_ = 0;
    copy_fail_sent_ = false;
    in_copy_ = false;
  }
  // COPY FROM STDIN's data for the current request (until EndOutput()).
  // When the backend, inside a COPY (after its CopyInResponse), has read
  // every byte of the request, the channel first hands all its output to the
  // sink if there is one (so the client sees the CopyInResponse), then asks
  // `source` for more client bytes: whole frontend messages, up to the COPY's
  // CopyDone or CopyFail at the latest, or a CopyFail saying why no more will
  // come. It may block (the worker waits for the client). Without a source
  // such a COPY fails at once, with a CopyFail of the channel's own.
  void SetInputSource(InputSource source) { input_source_ = std::move(source); }
  size_t input_remaining() const { return input_.size() - input_pos_; }
  std::string& output() { return output_; }
  // Output for one request (until EndOutput()): with `max_bytes` (0: none)
  // a cap on all of it; with `sink`, a long reply leaves as it is made.
  //  - The cap: past it, writes are dropped while the backend sees them
  //    succeed (a failed write would be a lost connection, FATAL),
  //    output_dropped() turns true and the statement is stopped.
  //  - The sink: once output() holds kStreamChunkBytes, its complete
  //    messages but the last go to `sink` (and leave output()), so output()
  //    never holds much more than a chunk and always keeps the reply's last
  //    message. A sink that returns false ends the streaming as the cap
  //    does: the rest is dropped, the statement stopped, output_dropped().
  void BeginOutput(size_t max_bytes, OutputSink sink);
  bool output_dropped() const { return output_dropped_; }
  // Lifts the cap, the sink and the source (and withdraws a stop it asked
  // for during the request).
  void EndOutput();

  // --- the guest's side (the read and write callbacks) -----------------------
  // Serves up to `max` bytes to the guest's read; 0 when there are none.
  size_t Read(char* dst, size_t max);
  // Takes what the guest flushed. Never fails: dropped bytes look written.
  void Write(std::string_view bytes);

 private:
  // Hands output_'s complete messages but the last to output_sink_.
  void StreamOutput();
  // Hands all of output_ (whole messages, the last one too) to the sink.
  void FlushOutput();
  // Sends `chunk` to the sink; on a refusal, drops the rest and stops.
  void Deliver(std::string& chunk);
  void Stop();

  const StatementStop stop_;
  const Peer peer_;

  std::string_view input_;
  size_t input_pos_ = 0;
  // A client program's unread server reply.
  std::string peer_reply_;
  size_t peer_reply_pos_ = 0;
  // A CopyFail made up for a COPY FROM STDIN with no data, or the bytes the
  // input source gave.
  std::string synthetic_input_;
  bool copy_fail_sent_ = false;
  InputSource input_source_;
  bool in_copy_ = false;  // the source is feeding a COPY that has not ended

  std::string output_;
  size_t output_limit_ = 0;
  size_t output_total_ = 0;  // bytes written since BeginOutput
  OutputSink output_sink_;
  bool output_dropped_ = false;
  bool stopped_statement_ = false;
};

}  // namespace pgthaw::host
