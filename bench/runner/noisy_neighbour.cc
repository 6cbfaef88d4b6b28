// noisy_neighbour: the victim, the abuses, and one row at a time.
#include "noisy_neighbour.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include "bench/engine/bench_rows.h"
#include "wire_statement.h"

namespace pgthaw::bench {
namespace {

constexpr const char* kVictimTenant = "noisy-victim";
constexpr const char* kAbuserTenant = "noisy-abuser";
constexpr const char* kSecondAbuserTenant = "noisy-abuser-2";
constexpr int kVictimWarmup = 50;  // untimed select 1 before the first row
constexpr int kSettleMs = 500;     // after creating the tenants, before the first row
constexpr double kEngageTimeoutMs = 15000;
constexpr double kBurstTimeoutMs = 5000;
constexpr int kMaxReconnects = 20;  // per abuse and row: a refusing server ends the abuse

constexpr const char* kCpuLoopSql = "do $$begin loop end loop; end$$";
constexpr const char* kSleepSql = "select pg_sleep(30)";
constexpr const char* kBigResultSql = "select g from generate_series(1, 20000000) g";
constexpr const char* kBigSortSql =
    "select count(*) from (select g from generate_series(1,5000000) g order by g desc) s";
constexpr const char* kMemorySql = "select repeat('x', 400000000) || repeat('x', 400000000)";

std::string conninfo(const std::string& host, int port, const std::string& tenant) {
  return "host=" + host + " port=" + std::to_string(port) + " dbname=" + tenant +
         " user=postgres sslmode=disable gssencmode=disable connect_timeout=10"
         " application_name=bench-noisy-neighbour";
}

std::string fixed(double v, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Counts abusers that have their abuse running; the row waits for all.
class Engagement {
 public:
  void Signal() {
    std::lock_guard lock(mu_);
    ++count_;
    cv_.notify_all();
  }
  bool WaitFor(int n, double timeout_ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::duration<double, std::milli>(timeout_ms),
                        [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

struct AbuseContext {
  std::string conninfo;  // the abuser's tenant
  const std::atomic<bool>* stop;
  const NoisyNeighbourPlan* plan;
  Engagement* engagement;
  bool engaged = false;
  // Once per abuser: its abuse runs (or it gave up), the victim may start.
  void Engaged() {
    if (engaged) return;
    engaged = true;
    engagement->Signal();
  }
  bool stopping() const { return stop->load(); }
};

using Abuse = std::function<std::string(AbuseContext&)>;

// How an abuser's statements ended, grouped by outcome in first-seen order.
class Tally {
 public:
  // ALWAYS_ROWS: report the rows read even when there were none.
  explicit Tally(bool always_rows = false) : always_rows_(always_rows) {}
  void Add(const StatementEnd& e) {
    std::string label;
    if (!e.ended) {
      label = "abandoned (" + e.message + ")";
    } else if (!e.failed) {
      label = "ok";
    } else if (!e.sqlstate.empty()) {
      label = e.sqlstate + " \"" + e.message + "\"";
    } else {
      label = "client error \"" + e.message + "\"";
    }
    if (e.cancelled_on_stop) label += " [the runner's cancel at the row's end]";
    Group* g = nullptr;
    for (Group& existing : groups_) {
      if (existing.label == label) g = &existing;
    }
    if (g == nullptr) g = &groups_.emplace_back(Group{label});
    ++g->count;
    g->ms += e.ms;
    g->rows += e.rows;
    if (e.cancel_sent_ms >= 0 && e.ended) {
      ++g->cancels;
      g->cancel_to_end_ms += e.ms - e.cancel_sent_ms;
    }
  }
  void AddNote(const std::string& note) { notes_.push_back(note); }

  std::string Summary() const {
    std::string out;
    for (const Group& g : groups_) {
      if (!out.empty()) out += "; ";
      out += std::to_string(g.count) + "x " + g.label + " after " +
             fixed(g.ms / g.count / 1000, "%.2f") + " s";
      if (g.cancels > 0) {
        out += " (ended " + fixed(g.cancel_to_end_ms / g.cancels, "%.0f") + " ms after its cancel)";
      }
      if (g.rows > 0 || always_rows_) out += ", rows: " + std::to_string(g.rows);
    }
    for (const std::string& n : notes_) out += (out.empty() ? "" : "; ") + n;
    return out.empty() ? "nothing ran" : out;
  }

 private:
  struct Group {
    std::string label;
    int count = 0;
    double ms = 0;
    int64_t rows = 0;
    int cancels = 0;
    double cancel_to_end_ms = 0;
  };
  bool always_rows_;
  std::vector<Group> groups_;
  std::vector<std::string> notes_;
};

// The abuser's loop: SQL again and again on one connection (a new one when
// the server drops it) until the row stops it.
std::string repeat_statement(AbuseContext& ctx, const std::string& sql,
                             const StatementLimits& limits) {
  Tally tally(limits.single_row);
  int reconnects = 0;
  std::unique_ptr<WireConnection> conn;
  while (!ctx.stopping()) {
    if (conn == nullptr || !conn->usable()) {
      if (conn != nullptr && ++reconnects > kMaxReconnects) {
        tally.AddNote("gave up after " + std::to_string(kMaxReconnects) + " reconnects");
        break;
      }
      Result<std::unique_ptr<WireConnection>> c = WireConnection::Connect(ctx.conninfo);
      if (!c.ok()) {
        tally.AddNote("could not connect: " + c.status().message());
        break;
      }
      conn = std::move(c.value());
    }
    Status sent = conn->Send(sql, limits.single_row);
    ctx.Engaged();
    if (!sent.ok()) {
      tally.AddNote(sent.message());
      continue;
    }
    tally.Add(conn->Finish(limits, ctx.stop));
  }
  if (reconnects > 0) tally.AddNote(std::to_string(reconnects) + " reconnects");
  return tally.Summary();
}

std::string describe_end(const StatementEnd& e) {
  if (!e.ended) return "no end (" + e.message + ")";
  if (!e.failed) return "ok";
  return (e.sqlstate.empty() ? std::string("error") : e.sqlstate) + " \"" + e.message + "\"";
}

// One connection idle inside BEGIN (holding its tenant), a second one whose
// select 1 queues behind it, and bursts of connections opened at once.
std::string hold_and_burst(AbuseContext& ctx) {
  Result<std::unique_ptr<WireConnection>> holder = WireConnection::Connect(ctx.conninfo);
  Result<std::unique_ptr<WireConnection>> waiter = WireConnection::Connect(ctx.conninfo);
  if (!holder.ok() || !waiter.ok()) {
    ctx.Engaged();
    return "could not connect: " + (holder.ok() ? waiter : holder).status().message();
  }
  StatementLimits bounded;
  bounded.max_ms = 10000;
  Stopwatch held;
  StatementEnd begin = (*holder)->Run("begin", bounded);
  if (begin.failed) {
    ctx.Engaged();
    return "begin: " + describe_end(begin);
  }
  Status queued = (*waiter)->Send("select 1");
  ctx.Engaged();
  int bursts = 0, opened = 0, failed = 0;
  double slowest = 0;
  std::string first_error;
  std::unique_ptr<ConnectionBurst> last;  // the burst the row's end interrupted
  while (!ctx.stopping()) {
    auto burst = std::make_unique<ConnectionBurst>(ctx.conninfo, ctx.plan->burst_connections);
    burst->Poll(kBurstTimeoutMs, ctx.stop);
    if (burst->pending() > 0 && ctx.stopping()) {
      last = std::move(burst);
      break;
    }
    burst->GiveUp("not connected within " + fixed(kBurstTimeoutMs / 1000, "%.0f") + " s");
    ++bursts;
    opened += static_cast<int>(burst->opened());
    failed += burst->failed();
    for (double ms : burst->connect_ms()) slowest = std::max(slowest, ms);
    if (first_error.empty()) first_error = burst->first_error();
  }  // each whole burst's connections close here
  double held_ms = held.ElapsedMs();
  StatementEnd commit = (*holder)->Run("commit", bounded);
  std::string out = "holder idle in BEGIN " + fixed(held_ms / 1000, "%.2f") +
                    " s, then COMMIT: " + describe_end(commit) + "; ";
  // The interrupted burst's connections, polled on from the COMMIT.
  size_t opened_while_held = last ? last->opened() : 0;
  Stopwatch after_commit;
  if (last != nullptr) last->Poll(last->elapsed_ms() + kBurstTimeoutMs, nullptr);
  double after_commit_ms = after_commit.ElapsedMs();
  if (queued.ok()) {
    StatementEnd waited = (*waiter)->Finish(bounded);
    out += "a select 1 on its tenant meanwhile: " + describe_end(waited) + " after " +
           fixed(waited.ms / 1000, "%.2f") + " s; ";
  }
  std::string n = std::to_string(ctx.plan->burst_connections);
  out += std::to_string(bursts) + " whole bursts of " + n +
         " connections at once: " + std::to_string(opened) + " opened, " + std::to_string(failed) +
         " failed, slowest " + fixed(slowest, "%.0f") + " ms";
  if (!first_error.empty()) out += " (first error: " + first_error + ")";
  if (last != nullptr) {
    out += "; a burst still connecting at the row's end: " + std::to_string(opened_while_held) +
           " of " + n + " opened while the holder held, " +
           std::to_string(last->opened() - opened_while_held) + " more within " +
           fixed(after_commit_ms, "%.0f") + " ms after its COMMIT, " +
           std::to_string(last->pending() + last->failed()) + " not";
    if (!last->first_error().empty()) out += " (" + last->first_error() + ")";
  }
  return out;
}

struct VictimRun {
  std::vector<double> ms;            // send to result
  std::vector<double> from_slot_ms;  // slot (when sent late) or send, to result
  int errors = 0;
  std::string note;
};

// N select 1 on the victim's connection, the i-th due at i * window/N.
VictimRun measure_victim(std::unique_ptr<WireConnection>& victim, const std::string& info, int n,
                         double window_ms, double stall_ms) {
  VictimRun run;
  double interval = window_ms / n;
  double deadline = window_ms + stall_ms;
  Stopwatch clock;
  for (int i = 0; i < n; ++i) {
    double scheduled = i * interval;
    double now = clock.ElapsedMs();
    if (now >= deadline) {
      run.note = "stalled: " + std::to_string(i) + " of " + std::to_string(n) + " sent in " +
                 fixed(deadline / 1000, "%.1f") + " s";
      break;
    }
    // Behind schedule (the previous query ended past this one's slot), the
    // from-slot latency counts from the slot: the wait is the server's
    // doing. Ahead, from the actual send, so our own late wake-up is not.
    bool behind = now >= scheduled;
    if (!behind) {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(scheduled - now));
    }
    if (!victim->usable()) {
      Result<std::unique_ptr<WireConnection>> again = WireConnection::Connect(info);
      if (!again.ok()) {
        run.note = "victim reconnect failed: " + again.status().message();
        break;
      }
      victim = std::move(again.value());
    }
    double sent = clock.ElapsedMs();
    double due = behind ? scheduled : sent;
    StatementLimits limits;
    limits.max_ms = std::max(1.0, deadline - sent);
    limits.grace_ms = 2000;
    StatementEnd e = victim->Run("select 1", limits);
    double end = clock.ElapsedMs();
    if (e.failed || !e.ended || e.rows != 1) {
      ++run.errors;
      if (run.note.empty()) run.note = "first victim error: " + describe_end(e);
    } else {
      run.ms.push_back(end - sent);
      run.from_slot_ms.push_back(end - due);
    }
  }
  return run;
}

class RowRunner {
 public:
  RowRunner(std::string host, int port, const NoisyNeighbourPlan& plan)
      : host_(std::move(host)), port_(port), plan_(plan) {}

  // A fresh victim connection, warmed up; again before a row when the last
  // row left it unusable, so no row times the previous one's aftermath.
  Status ConnectVictim() {
    victim_info_ = conninfo(host_, port_, kVictimTenant);
    Result<std::unique_ptr<WireConnection>> v = WireConnection::Connect(victim_info_);
    if (!v.ok()) return v.status();
    victim_ = std::move(v.value());
    for (int i = 0; i < kVictimWarmup; ++i) {
      StatementLimits limits;
      limits.max_ms = 30000;  // a first query may create the tenant
      StatementEnd e = victim_->Run("select 1", limits);
      if (e.failed) return Status::Unavailable("victim select 1: " + describe_end(e));
    }
    return Status::Ok();
  }

  // Creates the abusers' tenants before any row, so no row times a creation.
  void WarmAbuser(const std::string& tenant) {
    Result<std::unique_ptr<WireConnection>> c = WireConnection::Connect(Info(tenant));
    StatementLimits limits;
    limits.max_ms = 30000;
    if (c.ok()) (*c)->Run("select 1", limits);
  }

  std::string Info(const std::string& tenant) const { return conninfo(host_, port_, tenant); }

  NoisyNeighbourRow Run(const std::string& abuse, const std::string& how,
                        const std::vector<std::pair<std::string, Abuse>>& abusers,
                        double window_ms) {
    std::string note;
    if (!victim_->usable()) {
      Status again = ConnectVictim();
      if (!again.ok()) note = "victim reconnect before the row failed: " + again.message() + "; ";
    }
    std::atomic<bool> stop{false};
    Engagement engagement;
    std::vector<std::string> got(abusers.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < abusers.size(); ++i) {
      threads.emplace_back([&, i] {
        AbuseContext ctx{Info(abusers[i].first), &stop, &plan_, &engagement};
        try {
          got[i] = abusers[i].second(ctx);
        } catch (const std::exception& e) {
          got[i] = std::string("abuser failed: ") + e.what();
        }
        ctx.Engaged();
      });
    }
    if (!abusers.empty()) {
      if (!engagement.WaitFor(static_cast<int>(abusers.size()), kEngageTimeoutMs)) {
        note = "abuse not running after " + fixed(kEngageTimeoutMs / 1000, "%.0f") + " s; ";
      }
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(plan_.ramp_ms));
    }
    // A victim still stuck this long after its window gives up: longer
    // than one statement timeout, so one abuse cannot end a row early.
    double stall_ms = plan_.statement_timeout_ms + 500;
    VictimRun victim =
        measure_victim(victim_, victim_info_, plan_.victim_queries, window_ms, stall_ms);
    stop = true;
    for (std::thread& t : threads) t.join();

    NoisyNeighbourRow row;
    row.abuse = abuse;
    row.victim_alone = abusers.empty();
    row.system = kSystemPgthaw;
    row.victim_ms = std::move(victim.ms);
    row.victim_from_slot_ms = std::move(victim.from_slot_ms);
    row.victim_planned = plan_.victim_queries;
    row.victim_errors = victim.errors;
    row.victim_note = note + victim.note;
    for (size_t i = 0; i < got.size(); ++i) {
      if (!row.abuser_got.empty()) row.abuser_got += " / ";
      if (got.size() > 1) row.abuser_got += "tenant " + abusers[i].first + ": ";
      row.abuser_got += got[i];
    }
    row.how = how;
    return row;
  }

 private:
  std::string host_;
  int port_;
  NoisyNeighbourPlan plan_;
  std::string victim_info_;
  std::unique_ptr<WireConnection> victim_;
};

}  // namespace

Result<std::vector<NoisyNeighbourRow>> measure_noisy_neighbour(
    const std::string& host, int port, const NoisyNeighbourPlan& plan,
    const std::function<void(const std::string&)>& progress) {
  RowRunner rows(host, port, plan);
  PGTHAW_RETURN_IF_ERROR(rows.ConnectVictim());
  rows.WarmAbuser(kAbuserTenant);
  rows.WarmAbuser(kSecondAbuserTenant);
  // The server refills its pool of blank instances after those creations.
  std::this_thread::sleep_for(std::chrono::milliseconds(kSettleMs));

  StatementLimits none;
  StatementLimits cancel_sleep;
  cancel_sleep.cancel_after_ms = plan.sleep_cancel_after_ms;
  StatementLimits row_by_row;
  row_by_row.single_row = true;
  auto repeat = [](const char* sql, StatementLimits limits) -> Abuse {
    return [sql, limits](AbuseContext& ctx) { return repeat_statement(ctx, sql, limits); };
  };
  std::string timeout = fixed(plan.statement_timeout_ms / 1000, "%.1f");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  std::string schedule = std::to_string(plan.victim_queries) + " `select 1` on one connection, " +
                         "spread over the row's window";

  struct Spec {
    std::string abuse;
    std::string how;
    std::vector<std::pair<std::string, Abuse>> abusers;
    double window_ms;
  };
  std::vector<Spec> specs = {
      {"none (victim alone)", schedule + "; no other tenant active", {}, plan.window_ms},
      {std::string("CPU loop `") + kCpuLoopSql + "`",
       "restarted on the same connection each time --statement-timeout " + timeout + " s ends it",
       {{kAbuserTenant, repeat(kCpuLoopSql, none)}},
       plan.cpu_window_ms},
      {std::string("`") + kSleepSql + "` cancelled",
       "PQcancel after " + fixed(plan.sleep_cancel_after_ms / 1000, "%.1f") + " s, then again",
       {{kAbuserTenant, repeat(kSleepSql, cancel_sleep)}},
       plan.window_ms},
      {std::string("big result `") + kBigResultSql + "`",
       "read by the abuser row by row (PQsetSingleRowMode) as it arrives, restarted if it ends",
       {{kAbuserTenant, repeat(kBigResultSql, row_by_row)}},
       plan.window_ms},
      {std::string("big sort `") + kBigSortSql + "`",
       "restarted each time it ends",
       {{kAbuserTenant, repeat(kBigSortSql, none)}},
       plan.window_ms},
      {"idle in BEGIN + " + std::to_string(plan.burst_connections) + " connections at once",
       "one abuser connection idle inside BEGIN (holding its tenant), one more whose select 1 "
       "queues behind it, and bursts of " +
           std::to_string(plan.burst_connections) +
           " nonblocking connects to the abuser tenant, closed and opened again",
       {{kAbuserTenant, hold_and_burst}},
       plan.window_ms},
      {std::string("memory `") + kMemorySql + "`",
       "restarted each time it ends (--tenant-memory-max answers 53200)",
       {{kAbuserTenant, repeat(kMemorySql, none)}},
       plan.window_ms},
      {"CPU loop on 2 tenants at once",
       "the issue's total outage case: two loops on " + std::to_string(cores) +
           " cores; the runtime's workers (max(4, 2 x cores)) leave a worker for the victim, "
           "and a work item busy on a CPU for 20-30 ms runs at SCHED_IDLE for the rest of it, so "
           "the kernel runs the victim's worker and io thread ahead of the loops",
       {{kAbuserTenant, repeat(kCpuLoopSql, none)},
        {kSecondAbuserTenant, repeat(kCpuLoopSql, none)}},
       plan.cpu_window_ms},
      // A control: how much of the above is this machine's own noise.
      {"none (victim alone, again after the abuses)",
       schedule + "; the first row's measurement repeated, nothing else running",
       {},
       plan.window_ms},
  };
  std::vector<NoisyNeighbourRow> out;
  for (const Spec& s : specs) {
    progress("pgthaw: noisy neighbour: " + s.abuse);
    out.push_back(rows.Run(s.abuse, s.how, s.abusers, s.window_ms));
  }
  return out;
}

}  // namespace pgthaw::bench
