// noisy_neighbour: the "noisy neighbour" table of `pgthaw-bench` (issue 8).
// A victim tenant runs `select 1` over the Postgres wire (libpq, one
// connection, a fixed count of queries spread evenly over a window), first
// alone, then while another tenant, on its own threads and connections, runs
// each abuse in turn: a CPU loop, pg_sleep cancelled by PQcancel, a big
// result read over the wire, a big sort, a connection idle inside BEGIN plus
// bursts of 50 connections, a huge allocation; then CPU loops on two
// tenants at once; last, the victim alone again (the machine's own noise). A victim query sent late
// because the previous one was held up counts from its slot in the even schedule, so a victim stuck
// behind others' work counts every query it could not send (no coordinated
// omission); a query sent on time counts from its send. Everything is bounded: an
// abuse is stopped (CancelRequest, then the connection dropped) when the
// victim's window ends; a victim still waiting one statement timeout + 0.5 s
// after its window cancels its query (an error) and sends no more, so a
// row's n then says how many it got through.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "report.h"

namespace pgthaw::bench {

struct NoisyNeighbourPlan {
  int victim_queries = 300;     // per row
  double window_ms = 800;       // the victim's queries are spread over this long
  double cpu_window_ms = 2200;  // rows with CPU loops: covers one statement timeout
  // The server's --statement-timeout: it is what stops the CPU loops.
  double statement_timeout_ms = 2000;
  int burst_connections = 50;
  double sleep_cancel_after_ms = 500;
  double ramp_ms = 100;  // between the abuse starting and the victim's first query
};

// Measures every row against the Postgres listener at HOST:PORT (a pgthaw
// serve started with --statement-timeout plan.statement_timeout_ms). Fails
// only when the victim cannot connect; an abuse that fails says so in its
// row's abuser_got.
Result<std::vector<NoisyNeighbourRow>> measure_noisy_neighbour(
    const std::string& host, int port, const NoisyNeighbourPlan& plan,
    const std::function<void(const std::string&)>& progress);

}  // namespace pgthaw::bench
