// One worker thread that runs every long job, one at a time: two concurrent forwards would each fork a full
// OpenMP team on a 2-core machine. Jobs carry one cancellation convention (a CancelToken checked by the engine
// between layers, decode steps, scan batches) and report progress with an ETA; a job submitted with `supersede`
// drops queued jobs of those kinds and cancels the running one, so a moved slider never waits for a stale run.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "workbench/workbench.h"

namespace hl::wb {

class JobQueue;

// What a job's body sees.
class JobScope {
 public:
  const CancelToken& cancel() const { return cancel_; }
  // Throws hl::Cancelled when the job was cancelled (a body calls it between its stages).
  void check() const;
  // done / total units; the ETA is extrapolated from the rate so far.
  void progress(int64_t done, int64_t total, const std::string& what);
  // A progress report whose source knows its ETA better (units resumed from a journal cost nothing): its done,
  // total, ETA and label, the elapsed time of this job.
  void progress(const Progress& p);
  void set_run_id(int64_t id);
  uint64_t id() const { return id_; }

 private:
  friend class JobQueue;
  JobQueue* queue_ = nullptr;
  uint64_t id_ = 0;
  CancelToken cancel_;
  std::chrono::steady_clock::time_point start_;
};

class JobQueue {
 public:
  using Body = std::function<void(JobScope&)>;
  // on_change runs (on the worker or the calling thread, under no lock) whenever a job's state or progress changed.
  explicit JobQueue(std::function<void()> on_change, size_t max_finished);
  ~JobQueue();  // cancels everything and joins

  uint64_t submit(JobKind kind, std::string label, Body body, const std::vector<JobKind>& supersede = {});
  void cancel(uint64_t id);
  // Cancels the running job and drops queued ones of these kinds (all kinds when empty).
  void cancel_kinds(const std::vector<JobKind>& kinds);
  std::vector<JobInfo> jobs() const;  // running, queued, then finished (newest first)
  bool idle() const;
  bool wait_idle(double timeout_s) const;
  bool on_worker_thread() const { return std::this_thread::get_id() == worker_.get_id(); }

 private:
  friend class JobScope;
  struct Job {
    JobInfo info;
    Body body;
    JobScope scope;
  };
  void run();
  void finish(const std::shared_ptr<Job>& job, JobState state, std::string error);
  void drop_locked(const std::vector<JobKind>& kinds);

  std::function<void()> on_change_;
  size_t max_finished_;
  mutable std::mutex mu_;
  mutable std::condition_variable wake_, idle_cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::shared_ptr<Job> running_;
  std::deque<JobInfo> finished_;
  uint64_t next_id_ = 1;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace hl::wb
