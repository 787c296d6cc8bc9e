// Linked into every executable of a ThreadSanitizer build (see CMakeLists.txt), where these
// take the place of glibc's C11 thread calls for the whole process.
//
// Why: librdkafka starts its threads with C11 thrd_create and locks with mtx_lock and
// cnd_wait, which glibc 2.36 implements without going through the pthread calls, and GCC 12's
// ThreadSanitizer intercepts only the pthread calls.
// - A thread it never saw has no state of its own, and the first instrumented call on it (a
//   malloc) dereferenced null: every Kafka client crashed at start.
// - A lock it never saw orders nothing, so every hand-over through one of librdkafka's queues
//   (a message built on its thread, read on ours) would look like a race.
// Each call here is the pthread call that glibc's own would make, on the same object: glibc's
// mtx_t and cnd_t are a pthread_mutex_t and a pthread_cond_t.
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <new>

namespace {

struct Start {
  thrd_start_t function;
  void* argument;
};

void* run(void* raw) {
  const Start start = *static_cast<Start*>(raw);
  delete static_cast<Start*>(raw);
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(start.function(start.argument)));
}

int status(int error) {
  switch (error) {
    case 0:
      return thrd_success;
    case EBUSY:
      return thrd_busy;
    case ETIMEDOUT:
      return thrd_timedout;
    case ENOMEM:
    case EAGAIN:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

pthread_mutex_t* as_pthread(mtx_t* mutex) { return reinterpret_cast<pthread_mutex_t*>(mutex); }
pthread_cond_t* as_pthread(cnd_t* condition) {
  return reinterpret_cast<pthread_cond_t*>(condition);
}

static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t));
static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t));

}  // namespace

extern "C" {

int mtx_init(mtx_t* mutex, int type) {
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  if ((type & mtx_recursive) != 0) {
    pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
  }
  const int error = pthread_mutex_init(as_pthread(mutex), &attributes);
  pthread_mutexattr_destroy(&attributes);
  return status(error);
}
int mtx_lock(mtx_t* mutex) { return status(pthread_mutex_lock(as_pthread(mutex))); }
int mtx_trylock(mtx_t* mutex) { return status(pthread_mutex_trylock(as_pthread(mutex))); }
int mtx_timedlock(mtx_t* __restrict mutex, const struct timespec* __restrict until) {
  return status(pthread_mutex_timedlock(as_pthread(mutex), until));
}
int mtx_unlock(mtx_t* mutex) { return status(pthread_mutex_unlock(as_pthread(mutex))); }
void mtx_destroy(mtx_t* mutex) { pthread_mutex_destroy(as_pthread(mutex)); }

int cnd_init(cnd_t* condition) { return status(pthread_cond_init(as_pthread(condition), nullptr)); }
int cnd_signal(cnd_t* condition) { return status(pthread_cond_signal(as_pthread(condition))); }
int cnd_broadcast(cnd_t* condition) {
  return status(pthread_cond_broadcast(as_pthread(condition)));
}
int cnd_wait(cnd_t* condition, mtx_t* mutex) {
  return status(pthread_cond_wait(as_pthread(condition), as_pthread(mutex)));
}
int cnd_timedwait(cnd_t* __restrict condition, mtx_t* __restrict mutex,
                  const struct timespec* __restrict until) {
  return status(pthread_cond_timedwait(as_pthread(condition), as_pthread(mutex), until));
}
void cnd_destroy(cnd_t* condition) { pthread_cond_destroy(as_pthread(condition)); }

int thrd_join(thrd_t thread, int* result) {
  void* returned = nullptr;
  const int error = pthread_join(thread, &returned);
  if (error == 0 && result != nullptr) {
    *result = static_cast<int>(reinterpret_cast<std::intptr_t>(returned));
  }
  return status(error);
}

int thrd_create(thrd_t* thread, thrd_start_t function, void* argument) {
  Start* start = new (std::nothrow) Start{function, argument};
  if (start == nullptr) return thrd_nomem;
  const int error = pthread_create(thread, nullptr, run, start);
  if (error != 0) delete start;
  return status(error);
}

}  // extern "C"
