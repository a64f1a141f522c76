#include "workbench/job_queue.h"

#include <algorithm>

#include "core/error.h"

namespace hl::wb {

namespace {
bool kind_in(JobKind k, const std::vector<JobKind>& kinds) {
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), k) != kinds.end();
}
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

void JobScope::check() const {
  if (cancel_.cancelled()) throw Cancelled();
}

void JobScope::progress(int64_t done, int64_t total, const std::string& what) {
  {
    std::lock_guard<std::mutex> lk(queue_->mu_);
    if (!queue_->running_ || queue_->running_->info.id != id_) return;
    Progress& p = queue_->running_->info.progress;
    p.done = done;
    p.total = total;
    p.what = what;
    p.elapsed_s = seconds_since(start_);
    p.eta_s = done > 0 && total >= done ? p.elapsed_s / static_cast<double>(done) * static_cast<double>(total - done) : -1;
  }
  queue_->on_change_();
}

void JobScope::progress(const Progress& src) {
  {
    std::lock_guard<std::mutex> lk(queue_->mu_);
    if (!queue_->running_ || queue_->running_->info.id != id_) return;
    Progress& p = queue_->running_->info.progress;
    p = src;
    p.elapsed_s = seconds_since(start_);
  }
  queue_->on_change_();
}

void JobScope::set_run_id(int64_t id) {
  std::lock_guard<std::mutex> lk(queue_->mu_);
  if (queue_->running_ && queue_->running_->info.id == id_) queue_->running_->info.run_id = id;
}

JobQueue::JobQueue(std::function<void()> on_change, size_t max_finished)
    : on_change_(std::move(on_change)), max_finished_(max_finished) {
  worker_ = std::thread([this] { run(); });
}

JobQueue::~JobQueue() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    queue_.clear();
    if (running_) running_->scope.cancel_.cancel();
  }
  wake_.notify_all();
  worker_.join();
}

uint64_t JobQueue::submit(JobKind kind, std::string label, Body body, const std::vector<JobKind>& supersede) {
  auto job = std::make_shared<Job>();
  uint64_t id;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!supersede.empty()) drop_locked(supersede);
    id = next_id_++;
    job->info.id = id;
    job->info.kind = kind;
    job->info.label = std::move(label);
    job->info.state = JobState::Queued;
    job->body = std::move(body);
    job->scope.queue_ = this;
    job->scope.id_ = id;
    queue_.push_back(job);
  }
  wake_.notify_all();
  on_change_();
  return id;
}

void JobQueue::drop_locked(const std::vector<JobKind>& kinds) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (kind_in((*it)->info.kind, kinds)) {
      (*it)->info.state = JobState::Cancelled;
      (*it)->info.error = "superseded";
      finished_.push_front((*it)->info);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  while (finished_.size() > max_finished_) finished_.pop_back();
  if (running_ && kind_in(running_->info.kind, kinds)) running_->scope.cancel_.cancel();
}

void JobQueue::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (running_ && running_->info.id == id) running_->scope.cancel_.cancel();
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if ((*it)->info.id == id) {
        (*it)->info.state = JobState::Cancelled;
        finished_.push_front((*it)->info);
        queue_.erase(it);
        break;
      }
  }
  idle_cv_.notify_all();
  on_change_();
}

void JobQueue::cancel_kinds(const std::vector<JobKind>& kinds) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    drop_locked(kinds);
  }
  idle_cv_.notify_all();
  on_change_();
}

std::vector<JobInfo> JobQueue::jobs() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<JobInfo> out;
  if (running_) {
    out.push_back(running_->info);
    out.back().seconds = seconds_since(running_->scope.start_);
  }
  for (const auto& j : queue_) out.push_back(j->info);
  out.insert(out.end(), finished_.begin(), finished_.end());
  return out;
}

bool JobQueue::idle() const {
  std::lock_guard<std::mutex> lk(mu_);
  return !running_ && queue_.empty();
}

bool JobQueue::wait_idle(double timeout_s) const {
  std::unique_lock<std::mutex> lk(mu_);
  return idle_cv_.wait_for(lk, std::chrono::duration<double>(timeout_s), [&] { return !running_ && queue_.empty(); });
}

void JobQueue::finish(const std::shared_ptr<Job>& job, JobState state, std::string error) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    job->info.state = state;
    job->info.error = std::move(error);
    job->info.seconds = seconds_since(job->scope.start_);
    finished_.push_front(job->info);
    while (finished_.size() > max_finished_) finished_.pop_back();
    running_.reset();
  }
  idle_cv_.notify_all();
  on_change_();
}

void JobQueue::run() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = queue_.front();
      queue_.pop_front();
      running_ = job;
      job->info.state = JobState::Running;
      job->scope.start_ = std::chrono::steady_clock::now();
    }
    on_change_();
    try {
      job->scope.check();
      job->body(job->scope);
      finish(job, JobState::Done, {});
    } catch (const Cancelled&) {
      finish(job, JobState::Cancelled, {});
    } catch (const std::exception& e) {
      finish(job, JobState::Failed, e.what());
    }
  }
}

}  // namespace hl::wb
