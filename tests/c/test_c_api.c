/* Tests of the C ABI (lobbykit/lobbykit.h), written in C. Real servers on 127.0.0.1 with a
 * free port, real clients over a socket and in-process. Every wait has a deadline.
 *
 *   test_c_api            runs every case
 *   test_c_api NAME...    runs the named cases (ctest registers one test per case)
 */
#define _POSIX_C_SOURCE 200809L

#include <lobbykit/lobbykit.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_failures;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s %s)\n", __FILE__,      \
              __LINE__, #cond, lk_error_name(lk_error_last()->code),                  \
              lk_error_last()->message);                                              \
      ++g_failures;                                                                   \
    }                                                                                 \
  } while (0)

/* Stops the case at once: what follows depends on it. */
#define REQUIRE(cond)                                                                 \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s (last error: %s %s)\n", __FILE__,    \
              __LINE__, #cond, lk_error_name(lk_error_last()->code),                  \
              lk_error_last()->message);                                              \
      ++g_failures;                                                                   \
      return;                                                                         \
    }                                                                                 \
  } while (0)

#define WAIT_SECONDS 15 /* generous: sanitizer builds are slow */

/* ---- an inbox of event JSON texts, filled by callbacks on loop threads -------------- */

typedef struct inbox {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char **items;
  size_t count, cap;
  pthread_t loop_thread; /* the thread of the last callback */
} inbox;

static void inbox_init(inbox *b) {
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  b->items = NULL;
  b->count = b->cap = 0;
}

static void inbox_destroy(inbox *b) {
  size_t i;
  for (i = 0; i < b->count; ++i) free(b->items[i]);
  free(b->items);
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
}

static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static void inbox_push(inbox *b, const char *json) {
  pthread_mutex_lock(&b->mu);
  if (b->count == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16;
    char **items = realloc(b->items, cap * sizeof *items);
    if (!items) abort();
    b->items = items;
    b->cap = cap;
  }
  b->items[b->count++] = copy_string(json);
  b->loop_thread = pthread_self();
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

static size_t inbox_count(inbox *b) {
  size_t n;
  pthread_mutex_lock(&b->mu);
  n = b->count;
  pthread_mutex_unlock(&b->mu);
  return n;
}

static void on_event(const char *json, void *user_data) { inbox_push(user_data, json); }

static struct timespec deadline_in(int seconds) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += seconds;
  return t;
}

/* Index of the first item from `from` on containing every needle (NULL-terminated list),
 * waiting up to WAIT_SECONDS; -1 when none came. */
static long inbox_wait_all(inbox *b, size_t from, const char *const *needles) {
  struct timespec deadline = deadline_in(WAIT_SECONDS);
  long found = -1;
  pthread_mutex_lock(&b->mu);
  for (;;) {
    size_t i;
    for (i = from; i < b->count && found < 0; ++i) {
      const char *const *n;
      int all = 1;
      for (n = needles; *n; ++n)
        if (!strstr(b->items[i], *n)) all = 0;
      if (all) found = (long)i;
    }
    if (found >= 0) break;
    from = b->count;
    if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) == ETIMEDOUT) break;
  }
  pthread_mutex_unlock(&b->mu);
  return found;
}

static long inbox_wait(inbox *b, const char *needle) {
  const char *needles[2];
  needles[0] = needle;
  needles[1] = NULL;
  return inbox_wait_all(b, 0, needles);
}

/* Copies the string value of the first "key":"value" in json into out. */
static int json_string(const char *json, const char *key, char *out, size_t n) {
  char pattern[64];
  const char *p, *end;
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  p = strstr(json, pattern);
  if (!p) return 0;
  p += strlen(pattern);
  end = strchr(p, '"');
  if (!end || (size_t)(end - p) >= n) return 0;
  memcpy(out, p, (size_t)(end - p));
  out[end - p] = '\0';
  return 1;
}

/* ---- helpers ------------------------------------------------------------------------- */

static const char *kCheapLimits = "{\"argon2_memory_kib\": 64, \"argon2_iterations\": 1}";

static lk_server *new_server(const char *limits_json) {
  lk_server *server = NULL;
  lk_server_options o = LK_SERVER_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = LK_PORT_ANY;
  o.store_path = ""; /* in memory */
  o.worker_threads = 1;
  o.limits_json = limits_json ? limits_json : kCheapLimits;
  if (lk_server_new(&server, &o) != LK_OK) return NULL;
  return server;
}

static void ws_url(char *out, size_t n, lk_server *server) {
  snprintf(out, n, "ws://127.0.0.1:%d/ws", lk_server_port(server));
}

static lk_client *new_client_with_password(lk_server *server, int in_process,
                                           const char *name, const char *password) {
  lk_client *client = NULL;
  char url[64];
  lk_client_options o = LK_CLIENT_OPTIONS_INIT;
  o.name = name;
  o.password = password;
  o.reconnect_initial_delay_ms = 50;
  o.reconnect_max_delay_ms = 400;
  if (in_process) {
    if (lk_client_new_in_process(&client, server, &o) != LK_OK) return NULL;
  } else {
    ws_url(url, sizeof url, server);
    o.url = url;
    if (lk_client_new(&client, &o) != LK_OK) return NULL;
  }
  return client;
}

static lk_client *new_client(lk_server *server, int in_process, const char *name) {
  return new_client_with_password(server, in_process, name, NULL);
}

/* Starts the client and waits until it is welcomed under its name. */
static int connect_client(lk_client *client, inbox *events, const char *name) {
  char needle[80];
  if (lk_client_start(client) != LK_OK) return 0;
  snprintf(needle, sizeof needle, "\"type\":\"name_changed\",\"name\":\"%s\"", name);
  return inbox_wait(events, needle) >= 0;
}

/* ---- cases ------------------------------------------------------------------------- */

static void test_version(void) {
  CHECK(strcmp(lk_version(), LK_VERSION_STRING) == 0);
  CHECK(LK_VERSION_CHECK(0, 0, 1));
  CHECK(LK_VERSION_CHECK(LK_VERSION_MAJOR, LK_VERSION_MINOR, LK_VERSION_PATCH));
  CHECK(!LK_VERSION_CHECK(LK_VERSION_MAJOR + 1, 0, 0));
  CHECK(!LK_VERSION_CHECK(LK_VERSION_MAJOR, LK_VERSION_MINOR, LK_VERSION_PATCH + 1));
  CHECK(lk_protocol_version() == 1); /* docs/protocol.md */
}

static void *error_in_other_thread(void *arg) {
  const lk_error *e = lk_error_last();
  *(int *)arg = (e != NULL && e->code == LK_OK && strcmp(e->message, "") == 0);
  return NULL;
}

static void test_errors(void) {
  lk_server *server = (lk_server *)1;
  lk_server_options so = LK_SERVER_OPTIONS_INIT;
  lk_client_options co = LK_CLIENT_OPTIONS_INIT;
  lk_client *client = NULL;
  pthread_t t;
  int clean_elsewhere = 0;

  lk_error_clear();
  REQUIRE(lk_error_last() != NULL);
  CHECK(lk_error_last()->code == LK_OK);
  CHECK(strcmp(lk_error_last()->message, "") == 0);

  CHECK(lk_server_new(NULL, NULL) == LK_ERR_INVALID);
  CHECK(lk_error_last()->code == LK_ERR_INVALID);
  CHECK(strlen(lk_error_last()->message) > 0);
  CHECK(lk_server_port(NULL) == LK_ERR_INVALID);
  CHECK(lk_server_start(NULL) == LK_ERR_INVALID);
  CHECK(lk_client_state(NULL) == LK_ERR_INVALID);
  CHECK(lk_client_request(NULL, "ping", NULL, NULL, NULL) == LK_ERR_INVALID);
  lk_server_free(NULL); /* no-ops */
  lk_client_free(NULL);
  lk_free(NULL);

  /* The failure is this thread's: another thread sees none. */
  REQUIRE(pthread_create(&t, NULL, error_in_other_thread, &clean_elsewhere) == 0);
  pthread_join(t, NULL);
  CHECK(clean_elsewhere);
  CHECK(lk_error_last()->code == LK_ERR_INVALID);

  /* An option struct from another version is refused, naming the field. */
  so.version = 999;
  CHECK(lk_server_new(&server, &so) == LK_ERR_INVALID);
  CHECK(server == NULL);
  CHECK(strstr(lk_error_last()->message, "version") != NULL);
  co.version = 0;
  CHECK(lk_client_new(&client, &co) == LK_ERR_INVALID);
  CHECK(client == NULL);

  /* Bad option values. */
  so.version = LK_SERVER_OPTIONS_VERSION;
  so.port = 70000;
  CHECK(lk_server_new(&server, &so) == LK_ERR_INVALID);
  CHECK(strstr(lk_error_last()->message, "port") != NULL);
  so.port = LK_PORT_ANY;
  so.store_path = "";
  so.limits_json = "{\"max_participants\": 4, \"no_such_limit\": 1}";
  CHECK(lk_server_new(&server, &so) == LK_ERR_INVALID);
  CHECK(strstr(lk_error_last()->message, "no_such_limit") != NULL);
  so.limits_json = "{\"max_participants\": -3}";
  CHECK(lk_server_new(&server, &so) == LK_ERR_INVALID);
  CHECK(strstr(lk_error_last()->message, "max_participants") != NULL);
  so.limits_json = "{\"rate_flood_burst\": 0}";
  CHECK(lk_server_new(&server, &so) == LK_ERR_INVALID);
  CHECK(strstr(lk_error_last()->message, "rate_flood_burst") != NULL);
  /* The abuse limits by their docs/protocol.md names. */
  so.limits_json = "{\"rate_flood_burst\": 50, \"idle_session_ttl_ms\": 1000, "
                   "\"max_sessions\": 10, \"max_sessions_per_address\": 5, "
                   "\"max_lobbies_per_session\": 3, \"max_lobbies_per_address\": 4}";
  CHECK(lk_server_new(&server, &so) == LK_OK);
  lk_server_free(server);
  server = NULL;
  so.limits_json = "[1, 2";
  CHECK(lk_server_new(&server, &so) == LK_ERR_INVALID);

  co.version = LK_CLIENT_OPTIONS_VERSION;
  co.url = "http://127.0.0.1:1/ws";
  CHECK(lk_client_new(&client, &co) == LK_ERR_INVALID);
  CHECK(strstr(lk_error_last()->message, "ws://") != NULL);

  CHECK(strcmp(lk_error_name(LK_ERR_REQUEST), "LK_ERR_REQUEST") == 0);
  CHECK(strcmp(lk_error_name(12345), "unknown") == 0);
  CHECK(strcmp(lk_connection_state_name(LK_STATE_RECONNECTING), "reconnecting") == 0);
  CHECK(strcmp(lk_connection_state_name(-7), "unknown") == 0);
}

static void test_options_init(void) {
  lk_server_options so;
  lk_client_options co;
  memset(&so, 0x5a, sizeof so);
  memset(&co, 0x5a, sizeof co);
  CHECK(lk_server_options_init(&so, LK_SERVER_OPTIONS_VERSION) == LK_OK);
  CHECK(so.version == LK_SERVER_OPTIONS_VERSION);
  CHECK(so.port == LK_PORT_DEFAULT);
  CHECK(so.host == NULL && so.store_path == NULL && so.limits_json == NULL);
  CHECK(so.worker_threads == 0);
  CHECK(lk_client_options_init(&co, LK_CLIENT_OPTIONS_VERSION) == LK_OK);
  CHECK(co.version == LK_CLIENT_OPTIONS_VERSION);
  CHECK(co.url == NULL && co.name == NULL && co.reconnect_disabled == 0);
  CHECK(so.provider_keys == NULL);
  CHECK(so.drain_ms == 0 && so.drain_url == NULL && so.trusted_proxies == NULL);
  CHECK(so.tls_cert_path == NULL && so.tls_key_path == NULL);
  CHECK(co.tls_ca_path == NULL);
  CHECK(lk_server_options_init(&so, LK_SERVER_OPTIONS_VERSION + 1) == LK_ERR_INVALID);
  /* A version-3 caller's struct ends before drain_ms: init must not write past it. */
  memset(&so, 0x5a, sizeof so);
  CHECK(lk_server_options_init(&so, 3) == LK_OK);
  CHECK(so.version == 3 && so.token_secret == NULL);
  CHECK(so.drain_ms == 0x5a5a5a5au);
  memset(&co, 0x5a, sizeof co);
  CHECK(lk_client_options_init(&co, 1) == LK_OK);
  CHECK(co.version == 1 && co.url == NULL);
  CHECK((uintptr_t)co.tls_ca_path == (uintptr_t)0x5a5a5a5a5a5a5a5aull);
  CHECK(lk_client_options_init(NULL, LK_CLIENT_OPTIONS_VERSION) == LK_ERR_INVALID);
}

static void test_start_errors(void) {
  lk_server *a = new_server(NULL), *b = NULL;
  lk_server_options o = LK_SERVER_OPTIONS_INIT;
  REQUIRE(a != NULL);
  CHECK(lk_server_port(a) > 0);
  o.host = "127.0.0.1";
  o.port = lk_server_port(a); /* taken */
  o.store_path = "";
  CHECK(lk_server_new(&b, &o) == LK_ERR_START);
  CHECK(b == NULL);
  CHECK(strlen(lk_error_last()->message) > 0);
  o.port = LK_PORT_ANY;
  o.store_path = "/nonexistent-dir-for-lobbykit-tests/x.db";
  CHECK(lk_server_new(&b, &o) == LK_ERR_START);
  CHECK(strstr(lk_error_last()->message, "store") != NULL);
  lk_server_free(a);
}

/* A whole conversation through a server: name, lobby, chat, snapshot and server events. */
static void conversation(int in_process) {
  lk_server *server = new_server(NULL);
  lk_client *ada = NULL, *bo = NULL;
  inbox server_events, ada_events, bo_events;
  char *reply = NULL, *snapshot = NULL;
  char lobby_id[64], data[160];
  long created, joined, posted;
  const char *chat_from_ada[] = {"\"type\":\"chat\"", "\"text\":\"hello from C\"",
                                 "\"sender_name\":\"Ada\"", NULL};

  inbox_init(&server_events);
  inbox_init(&ada_events);
  inbox_init(&bo_events);
  if (!server) {
    CHECK(server != NULL);
    goto done;
  }
  CHECK(lk_server_subscribe(NULL, server, on_event, &server_events) == LK_OK);
  CHECK(lk_server_start(server) == LK_OK);
  ada = new_client(server, in_process, "Ada");
  bo = new_client(server, in_process, "Bo");
  if (!ada || !bo) {
    CHECK(ada && bo);
    goto done;
  }
  CHECK(lk_client_subscribe(NULL, ada, on_event, &ada_events) == LK_OK);
  CHECK(lk_client_subscribe(NULL, bo, on_event, &bo_events) == LK_OK);
  CHECK(connect_client(ada, &ada_events, "Ada"));
  CHECK(connect_client(bo, &bo_events, "Bo"));
  CHECK(lk_client_state(ada) == LK_STATE_CONNECTED);

  CHECK(lk_client_request_wait(&reply, ada, "create_lobby", "{\"name\":\"C room\"}") == LK_OK);
  if (!reply || !json_string(reply, "id", lobby_id, sizeof lobby_id)) {
    CHECK(!"create_lobby returned a lobby id");
    goto done;
  }
  CHECK(strstr(reply, "\"name\":\"C room\"") != NULL);
  lk_free(reply);
  reply = NULL;

  snprintf(data, sizeof data, "{\"lobby_id\":\"%s\"}", lobby_id);
  CHECK(lk_client_request_wait(NULL, ada, "join_lobby", data) == LK_OK);
  CHECK(lk_client_request_wait(NULL, bo, "join_lobby", data) == LK_OK);
  CHECK(lk_client_request_wait(&reply, ada, "chat", "{\"text\":\"hello from C\"}") == LK_OK);
  CHECK(reply && strstr(reply, "\"offset\":1") != NULL);
  lk_free(reply);
  reply = NULL;

  /* Both members hear the chat, with its sender. */
  CHECK(inbox_wait_all(&bo_events, 0, chat_from_ada) >= 0);
  CHECK(inbox_wait_all(&ada_events, 0, chat_from_ada) >= 0);
  /* Ada was in first: she hears Bo join (Bo gets the lobby snapshot instead). */
  CHECK(inbox_wait(&ada_events, "\"type\":\"participant_joined\"") >= 0);

  /* The snapshot knows the lobby, both members and the chat. */
  CHECK(lk_client_snapshot(&snapshot, bo) == LK_OK);
  REQUIRE(snapshot != NULL);
  CHECK(strstr(snapshot, "\"state\":\"connected\"") != NULL);
  CHECK(strstr(snapshot, lobby_id) != NULL);
  CHECK(strstr(snapshot, "\"name\":\"Ada\"") != NULL);
  CHECK(strstr(snapshot, "\"text\":\"hello from C\"") != NULL);
  CHECK(strstr(snapshot, "\"last_offset\":1") != NULL);
  lk_free(snapshot);

  /* Server events arrive in the order things happened. */
  created = inbox_wait(&server_events, "\"type\":\"lobby_created\"");
  joined = inbox_wait(&server_events, "\"type\":\"participant_joined\"");
  posted = inbox_wait(&server_events, "\"type\":\"chat_posted\"");
  CHECK(inbox_wait(&server_events, "\"type\":\"session_created\"") >= 0);
  CHECK(created >= 0 && joined > created && posted > joined);

done:
  lk_client_free(ada);
  lk_client_free(bo);
  lk_server_free(server);
  inbox_destroy(&server_events);
  inbox_destroy(&ada_events);
  inbox_destroy(&bo_events);
}

static void test_socket_conversation(void) { conversation(0); }
static void test_in_process_conversation(void) { conversation(1); }

static void test_request_errors(void) {
  lk_server *server = new_server("{\"max_participants\": 1, \"max_lobbies_per_session\": 1}");
  lk_client *ada = NULL, *bo = NULL;
  inbox ada_events, bo_events;
  char *reply = NULL, lobby_id[64], data[128];

  inbox_init(&ada_events);
  inbox_init(&bo_events);
  REQUIRE(server != NULL);
  CHECK(lk_server_start(server) == LK_OK);
  ada = new_client(server, 0, "Ada");
  bo = new_client(server, 1, "Bo");
  if (!ada || !bo) goto done;
  lk_client_subscribe(NULL, ada, on_event, &ada_events);
  lk_client_subscribe(NULL, bo, on_event, &bo_events);
  CHECK(connect_client(ada, &ada_events, "Ada"));
  CHECK(connect_client(bo, &bo_events, "Bo"));

  /* The server's code, in the error object and in lk_error_last(). */
  CHECK(lk_client_request_wait(&reply, ada, "join_lobby", "{\"lobby_id\":\"nope\"}") ==
        LK_ERR_REQUEST);
  CHECK(reply && strstr(reply, "\"code\":\"lobby_not_found\"") != NULL);
  CHECK(reply && strstr(reply, "\"message\":\"") != NULL);
  CHECK(strstr(lk_error_last()->message, "lobby_not_found") != NULL);
  lk_free(reply);
  reply = NULL;

  CHECK(lk_client_request_wait(&reply, ada, "create_lobby", "{\"name\": 5}") == LK_ERR_REQUEST);
  CHECK(reply && strstr(reply, "\"code\":\"bad_field\"") != NULL);
  CHECK(reply && strstr(reply, "\"field\":\"data.name\"") != NULL);
  lk_free(reply);
  reply = NULL;

  /* The client's own code for data that is not a JSON object. */
  CHECK(lk_client_request_wait(&reply, ada, "chat", "{\"text\": ") == LK_ERR_REQUEST);
  CHECK(reply && strstr(reply, "\"code\":\"bad_json\"") != NULL);
  lk_free(reply);
  reply = NULL;

  /* limits_json reached the server: one member at most. */
  CHECK(lk_client_request_wait(&reply, ada, "create_lobby", "{\"name\":\"Solo\"}") == LK_OK);
  if (reply && json_string(reply, "id", lobby_id, sizeof lobby_id)) {
    snprintf(data, sizeof data, "{\"lobby_id\":\"%s\"}", lobby_id);
    CHECK(lk_client_request_wait(NULL, ada, "join_lobby", data) == LK_OK);
    lk_free(reply);
    reply = NULL;
    CHECK(lk_client_request_wait(&reply, bo, "join_lobby", data) == LK_ERR_REQUEST);
    CHECK(reply && strstr(reply, "\"code\":\"lobby_full\"") != NULL);
    lk_free(reply);
    reply = NULL;
    /* ... and one lobby per session. */
    CHECK(lk_client_request_wait(&reply, ada, "create_lobby", "{\"name\":\"Duo\"}") ==
          LK_ERR_REQUEST);
    CHECK(reply && strstr(reply, "\"code\":\"lobby_quota\"") != NULL);
  } else {
    CHECK(!"create_lobby returned a lobby id");
  }
  lk_free(reply);
  reply = NULL;

  CHECK(lk_client_request_wait(NULL, ada, "", NULL) == LK_ERR_INVALID);
  CHECK(lk_client_request_wait(NULL, ada, NULL, NULL) == LK_ERR_INVALID);

done:
  lk_client_free(ada);
  lk_client_free(bo);
  lk_server_free(server);
  inbox_destroy(&ada_events);
  inbox_destroy(&bo_events);
}

typedef struct reply_box {
  inbox replies;
  int status;
  int calls;
  pthread_t thread;
} reply_box;

static void on_reply(int status, const char *json, void *user_data) {
  reply_box *r = user_data;
  pthread_mutex_lock(&r->replies.mu);
  r->status = status;
  r->calls += 1;
  r->thread = pthread_self();
  pthread_mutex_unlock(&r->replies.mu);
  inbox_push(&r->replies, json);
}

static void test_async_request(void) {
  lk_server *server = new_server(NULL);
  lk_client *ada = NULL;
  inbox events;
  reply_box r;
  lk_client_options o = LK_CLIENT_OPTIONS_INIT;

  inbox_init(&events);
  inbox_init(&r.replies);
  r.calls = 0;
  r.status = 1;
  REQUIRE(server != NULL);
  CHECK(lk_server_start(server) == LK_OK);

  /* Before start: no loop runs, the callback runs at once on this thread. */
  o.name = "Ada";
  CHECK(lk_client_new_in_process(&ada, server, &o) == LK_OK);
  if (!ada) goto done;
  CHECK(lk_client_request(ada, "ping", NULL, on_reply, &r) == LK_OK);
  CHECK(r.calls == 1);
  CHECK(r.status == LK_ERR_REQUEST);
  CHECK(r.calls == 1 && pthread_equal(r.thread, pthread_self()));
  CHECK(r.replies.count == 1 && strstr(r.replies.items[0], "\"code\":\"not_connected\"") != NULL);

  lk_client_subscribe(NULL, ada, on_event, &events);
  CHECK(connect_client(ada, &events, "Ada"));
  /* While running: exactly once, on the client's loop thread, with the result. */
  CHECK(lk_client_request(ada, "ping", "{}", on_reply, &r) == LK_OK);
  CHECK(inbox_wait(&r.replies, "\"time_ms\":") >= 0);
  pthread_mutex_lock(&r.replies.mu);
  CHECK(r.calls == 2);
  CHECK(r.status == LK_OK);
  CHECK(!pthread_equal(r.thread, pthread_self()));
  pthread_mutex_unlock(&r.replies.mu);
  CHECK(lk_client_request(ada, "ping", NULL, NULL, NULL) == LK_OK); /* no callback: fine */

done:
  lk_client_free(ada);
  CHECK(r.calls == 2);
  lk_server_free(server);
  inbox_destroy(&events);
  inbox_destroy(&r.replies);
}

/* lk_client_wait_ready returns once the name is settled, or with the name's error. */
static void test_wait_ready(void) {
  lk_server *server = new_server(NULL);
  lk_client *ada = NULL, *bo = NULL, *idle = NULL;
  char *reply = NULL;
  REQUIRE(server != NULL);
  CHECK(lk_server_start(server) == LK_OK);
  ada = new_client_with_password(server, 0, "Ada", "secret");
  bo = new_client_with_password(server, 1, "Ada", "guess");
  idle = new_client(server, 1, NULL);
  if (!ada || !bo || !idle) goto done;

  CHECK(lk_client_start(ada) == LK_OK);
  CHECK(lk_client_wait_ready(&reply, ada, WAIT_SECONDS * 1000) == LK_OK);
  CHECK(reply && strstr(reply, "\"name\":\"Ada\"") != NULL);
  CHECK(reply && strstr(reply, "\"resumed\":false") != NULL);
  lk_free(reply);
  reply = NULL;
  /* Right after it, what needs the name works (with a password it used to fail). */
  CHECK(lk_client_request_wait(NULL, ada, "create_lobby", "{\"name\":\"Ready\"}") == LK_OK);
  CHECK(lk_client_request_wait(NULL, ada, "join_lobby", "{\"name\":\"Ready\"}") == LK_OK);

  /* The name's error is the outcome, settled once. */
  CHECK(lk_client_start(bo) == LK_OK);
  CHECK(lk_client_wait_ready(&reply, bo, WAIT_SECONDS * 1000) == LK_ERR_REQUEST);
  CHECK(reply && strstr(reply, "\"code\":\"wrong_password\"") != NULL);
  CHECK(strstr(lk_error_last()->message, "wrong_password") != NULL);
  lk_free(reply);
  reply = NULL;
  CHECK(lk_client_wait_ready(NULL, bo, 0) == LK_ERR_REQUEST);
  CHECK(strstr(lk_error_last()->message, "wrong_password") != NULL);

  /* Never started: the timeout passes; stopped: "stopped". */
  CHECK(lk_client_wait_ready(&reply, idle, 50) == LK_ERR_REQUEST);
  CHECK(reply && strstr(reply, "\"code\":\"timeout\"") != NULL);
  lk_free(reply);
  reply = NULL;
  CHECK(lk_client_stop(idle) == LK_OK);
  CHECK(lk_client_wait_ready(&reply, idle, 0) == LK_ERR_REQUEST);
  CHECK(reply && strstr(reply, "\"code\":\"stopped\"") != NULL);
  lk_free(reply);
  reply = NULL;
  CHECK(lk_client_wait_ready(NULL, NULL, 0) == LK_ERR_INVALID);

done:
  lk_client_free(ada);
  lk_client_free(bo);
  lk_client_free(idle);
  lk_server_free(server);
}

/* What callbacks may and may not call. */
typedef struct reentry {
  lk_client *client;
  int wait_status;
  int ready_status;
  int run_status;
  int done;
  pthread_mutex_t mu;
} reentry;

static void on_welcome_try_blocking(const char *json, void *user_data) {
  reentry *r = user_data;
  if (!strstr(json, "\"type\":\"welcome\"")) return;
  pthread_mutex_lock(&r->mu);
  r->wait_status = lk_client_request_wait(NULL, r->client, "ping", NULL);
  r->ready_status = lk_client_wait_ready(NULL, r->client, 1000);
  r->run_status = lk_client_run(r->client);
  r->done = 1;
  pthread_mutex_unlock(&r->mu);
}

static void test_callbacks_refuse_blocking_calls(void) {
  lk_server *server = new_server(NULL);
  reentry r;
  inbox events;
  const char *welcome[] = {"\"type\":\"welcome\"", NULL};
  inbox_init(&events);
  memset(&r, 0, sizeof r);
  pthread_mutex_init(&r.mu, NULL);
  REQUIRE(server != NULL);
  CHECK(lk_server_start(server) == LK_OK);
  r.client = new_client(server, 1, "Ada");
  if (r.client) {
    lk_client_subscribe(NULL, r.client, on_welcome_try_blocking, &r);
    lk_client_subscribe(NULL, r.client, on_event, &events);
    CHECK(lk_client_start(r.client) == LK_OK);
    CHECK(inbox_wait_all(&events, 0, welcome) >= 0);
    pthread_mutex_lock(&r.mu);
    CHECK(r.done == 1);
    CHECK(r.wait_status == LK_ERR_STATE);
    CHECK(r.ready_status == LK_ERR_STATE);
    CHECK(r.run_status == LK_ERR_STATE);
    pthread_mutex_unlock(&r.mu);
    /* Outside callbacks the same call works. */
    CHECK(lk_client_request_wait(NULL, r.client, "ping", NULL) == LK_OK);
  }
  lk_client_free(r.client);
  lk_server_free(server);
  inbox_destroy(&events);
  pthread_mutex_destroy(&r.mu);
}

/* A client freed by its own callback: no callback of it runs afterwards. */
typedef struct self_free {
  lk_client *client;
  int freed;
  int calls_after_free;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} self_free;

static void on_event_free_self(const char *json, void *user_data) {
  self_free *s = user_data;
  pthread_mutex_lock(&s->mu);
  if (s->freed) {
    ++s->calls_after_free;
  } else if (strstr(json, "\"type\":\"welcome\"")) {
    lk_client_free(s->client); /* returns at once; the client goes when the loop ends */
    s->freed = 1;
    pthread_cond_broadcast(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
}

static void test_client_freed_by_its_callback(void) {
  lk_server *server = new_server(NULL);
  inbox server_events;
  self_free s;
  int in_process;
  inbox_init(&server_events);
  REQUIRE(server != NULL);
  lk_server_subscribe(NULL, server, on_event, &server_events);
  CHECK(lk_server_start(server) == LK_OK);
  for (in_process = 0; in_process <= 1; ++in_process) {
    struct timespec deadline = deadline_in(WAIT_SECONDS);
    const char *gone[] = {"\"type\":\"session_disconnected\"", NULL};
    size_t before = inbox_count(&server_events);
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.client = new_client(server, in_process, "");
    if (!s.client) {
      CHECK(s.client != NULL);
      break;
    }
    /* Two subscriptions: the second must not hear the welcome the first freed on. */
    lk_client_subscribe(NULL, s.client, on_event_free_self, &s);
    lk_client_subscribe(NULL, s.client, on_event_free_self, &s);
    CHECK(lk_client_start(s.client) == LK_OK);
    pthread_mutex_lock(&s.mu);
    while (!s.freed && pthread_cond_timedwait(&s.cv, &s.mu, &deadline) != ETIMEDOUT) {
    }
    CHECK(s.freed == 1);
    pthread_mutex_unlock(&s.mu);
    /* The server sees the connection go; by then the client's loop has ended. */
    CHECK(inbox_wait_all(&server_events, before, gone) >= 0);
    pthread_mutex_lock(&s.mu);
    CHECK(s.calls_after_free == 0);
    pthread_mutex_unlock(&s.mu);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
  }
  lk_server_free(server);
  inbox_destroy(&server_events);
}

/* A server freed by its own callback, while lk_server_run serves on this thread. */
typedef struct server_self_free {
  lk_server *server;
  int calls_after_free;
  int freed;
} server_self_free;

static void on_server_event_free_self(const char *json, void *user_data) {
  server_self_free *s = user_data;
  if (s->freed) {
    ++s->calls_after_free;
    return;
  }
  if (strstr(json, "\"type\":\"session_created\"")) {
    lk_server_free(s->server);
    s->freed = 1;
  }
}

static void *connect_once(void *arg) {
  char *url = arg;
  lk_client *c = NULL;
  lk_client_options o = LK_CLIENT_OPTIONS_INIT;
  inbox events;
  inbox_init(&events);
  o.url = url;
  o.reconnect_disabled = 1;
  if (lk_client_new(&c, &o) == LK_OK) {
    lk_client_subscribe(NULL, c, on_event, &events);
    lk_client_start(c);
    /* Welcomed, then closed by the server going away. */
    inbox_wait(&events, "\"state\":\"disconnected\"");
    inbox_wait(&events, "\"type\":\"welcome\"");
  }
  lk_client_free(c);
  inbox_destroy(&events);
  return NULL;
}

static void test_server_freed_by_its_callback(void) {
  server_self_free s;
  pthread_t t;
  char url[64];
  memset(&s, 0, sizeof s);
  s.server = new_server(NULL);
  REQUIRE(s.server != NULL);
  /* Two subscriptions: the second must not hear the event the first freed on. */
  lk_server_subscribe(NULL, s.server, on_server_event_free_self, &s);
  lk_server_subscribe(NULL, s.server, on_server_event_free_self, &s);
  ws_url(url, sizeof url, s.server);
  REQUIRE(pthread_create(&t, NULL, connect_once, url) == 0);
  CHECK(lk_server_run(s.server) == LK_OK); /* returns once freed; the handle is gone */
  CHECK(s.freed == 1);
  CHECK(s.calls_after_free == 0);
  pthread_join(t, NULL);
}

static void test_unsubscribe(void) {
  lk_server *server = new_server(NULL);
  lk_client *ada = NULL;
  inbox first, second;
  uint64_t first_id = 0;
  size_t heard;

  inbox_init(&first);
  inbox_init(&second);
  REQUIRE(server != NULL);
  CHECK(lk_server_start(server) == LK_OK);
  ada = new_client(server, 1, "Ada");
  if (!ada) goto done;
  CHECK(lk_client_subscribe(&first_id, ada, on_event, &first) == LK_OK);
  CHECK(lk_client_subscribe(NULL, ada, on_event, &second) == LK_OK);
  CHECK(connect_client(ada, &second, "Ada"));
  CHECK(lk_client_unsubscribe(ada, first_id) == LK_OK);
  heard = inbox_count(&first);
  CHECK(lk_client_request_wait(NULL, ada, "create_lobby", "{\"name\":\"Quiet\"}") == LK_OK);
  CHECK(lk_client_request_wait(NULL, ada, "join_lobby", "{\"name\":\"Quiet\"}") == LK_OK);
  CHECK(inbox_wait(&second, "\"type\":\"lobby_joined\"") >= 0);
  CHECK(inbox_count(&first) == heard);

done:
  lk_client_free(ada);
  lk_server_free(server);
  inbox_destroy(&first);
  inbox_destroy(&second);
}

static void on_posted(void *user_data) { inbox_push(user_data, "posted"); }

static void test_post(void) {
  lk_server *server = new_server(NULL);
  inbox posted;
  inbox_init(&posted);
  REQUIRE(server != NULL);
  CHECK(lk_server_post(server, NULL, NULL) == LK_ERR_INVALID);
  CHECK(lk_server_start(server) == LK_OK);
  CHECK(lk_server_post(server, on_posted, &posted) == LK_OK);
  CHECK(inbox_wait(&posted, "posted") >= 0);
  CHECK(!pthread_equal(posted.loop_thread, pthread_self()));
  CHECK(lk_server_stop(server) == LK_OK);
  CHECK(lk_server_stop(server) == LK_OK); /* idempotent */
  CHECK(lk_server_post(server, on_posted, &posted) == LK_OK);
  lk_server_free(server);
  CHECK(inbox_count(&posted) == 1); /* dropped after stop */
  inbox_destroy(&posted);
}

/* A drain with nobody connected stops the server at once; wait returns after it. */
static void test_drain(void) {
  lk_server *server = new_server(NULL);
  inbox posted;
  inbox_init(&posted);
  REQUIRE(server != NULL);
  CHECK(lk_server_drain(NULL) == LK_ERR_INVALID);
  CHECK(lk_server_wait(server) == LK_OK); /* never ran: at once */
  CHECK(lk_server_start(server) == LK_OK);
  CHECK(lk_server_drain(server) == LK_OK);
  CHECK(lk_server_wait(server) == LK_OK);
  CHECK(lk_server_drain(server) == LK_OK); /* over: nothing */
  CHECK(lk_server_reload_tls(server) == LK_ERR_STATE); /* no TLS */
  CHECK(lk_server_post(server, on_posted, &posted) == LK_OK);
  lk_server_free(server);
  CHECK(inbox_count(&posted) == 0); /* the loop had ended: dropped */
  inbox_destroy(&posted);
}

/* Version-4 options: drain, proxies and TLS settings reach the server and are checked. */
static void test_options_v4(void) {
  lk_server *server = NULL;
  lk_server_options o = LK_SERVER_OPTIONS_INIT;
  o.port = LK_PORT_ANY;
  o.store_path = "";
  o.drain_url = "http://not-a-websocket/";
  CHECK(lk_server_new(&server, &o) == LK_ERR_START);
  CHECK(strstr(lk_error_last()->message, "drain URL") != NULL);
  o.drain_url = "ws://127.0.0.1:9/ws";
  o.trusted_proxies = "127.0.0.1, not-an-address";
  CHECK(lk_server_new(&server, &o) == LK_ERR_START);
  CHECK(strstr(lk_error_last()->message, "not-an-address") != NULL);
  o.trusted_proxies = "127.0.0.1, 10.0.0.0/8";
  o.tls_cert_path = "/nonexistent-lobbykit-test/cert.pem";
  CHECK(lk_server_new(&server, &o) == LK_ERR_START);
  CHECK(strstr(lk_error_last()->message, "without its key") != NULL);
  o.tls_key_path = "/nonexistent-lobbykit-test/key.pem";
  CHECK(lk_server_new(&server, &o) == LK_ERR_START);
  CHECK(strstr(lk_error_last()->message, "cannot read the TLS certificate") != NULL);
  o.tls_cert_path = o.tls_key_path = NULL;
  CHECK(lk_server_new(&server, &o) == LK_OK);
  lk_server_free(server);
}

/* Bots from the host: options version 1 still works, version 2 takes provider keys; the
 * operations answer with JSON, errors with their docs/protocol.md code. */
static void test_bots(void) {
  lk_server *server = NULL;
  lk_server_options v1;
  char *json = NULL;
  /* A version-1 caller's struct has no provider_keys: init must not write it and new must
   * not read it (it holds garbage here). */
  memset(&v1, 0x5a, sizeof v1);
  CHECK(lk_server_options_init(&v1, 1) == LK_OK);
  CHECK(v1.version == 1);
  CHECK(v1.limits_json == NULL);
  {
    const unsigned char *tail = (const unsigned char *)&v1.provider_keys;
    CHECK(tail[0] == 0x5a);
  }
  v1.host = "127.0.0.1";
  v1.port = LK_PORT_ANY;
  v1.store_path = "";
  v1.limits_json = kCheapLimits;
  CHECK(lk_server_new(&server, &v1) == LK_OK);
  lk_server_free(server);
  server = NULL;

  {
    lk_server_options o = LK_SERVER_OPTIONS_INIT;
    o.host = "127.0.0.1";
    o.port = LK_PORT_ANY;
    o.store_path = "";
    o.limits_json = "{\"max_bots_per_lobby\": 2, \"allow_member_bots\": false}";
    o.provider_keys = "first-key\nsha256:0000000000000000000000000000000000000000000000000000000000000000\n";
    REQUIRE(lk_server_new(&server, &o) == LK_OK);
    {
      lk_server *refused = NULL;
      o.limits_json = "{\"allow_member_bots\": 1}";
      CHECK(lk_server_new(&refused, &o) == LK_ERR_INVALID);
      CHECK(refused == NULL);
    }
    CHECK(strstr(lk_error_last()->message, "allow_member_bots") != NULL);
  }
  CHECK(lk_server_start(server) == LK_OK);

  CHECK(lk_server_add_bot(&json, server, "no-such-lobby", "assistant", NULL, NULL) ==
        LK_ERR_REQUEST);
  REQUIRE(json != NULL);
  CHECK(strstr(json, "\"code\":\"lobby_not_found\"") != NULL);
  CHECK(strstr(lk_error_last()->message, "lobby_not_found") != NULL);
  lk_free(json);
  json = NULL;
  CHECK(lk_server_add_bot(&json, server, "x", NULL, NULL, NULL) == LK_ERR_INVALID);
  CHECK(json == NULL);
  CHECK(lk_server_remove_bot(&json, server, "no-such-lobby", "assistant") == LK_ERR_REQUEST);
  CHECK(json != NULL && strstr(json, "dispatch_not_found") != NULL);
  lk_free(json);
  json = NULL;
  CHECK(lk_server_bots(&json, server) == LK_OK);
  CHECK(json != NULL && strcmp(json, "{\"dispatches\":[],\"kinds\":[],\"providers\":[]}") == 0);
  lk_free(json);
  CHECK(lk_server_drain_bot_provider(server, "p-none") == LK_ERR_REQUEST);
  CHECK(strstr(lk_error_last()->message, "provider_not_found") != NULL);
  lk_server_free(server);
}

/* Hooks: a chat hook that answers at once (rewriting), a join hook answered later from
 * this thread, and an authenticate hook that sees the client's own credential field. */
typedef struct hook_box {
  inbox requests;         /* every request_json the hooks saw */
  pthread_mutex_t mu;
  lk_decision *join;      /* the join decision waiting for this thread */
} hook_box;

static void on_chat_hook(const char *request, lk_decision *d, void *user) {
  hook_box *h = user;
  inbox_push(&h->requests, request);
  if (strstr(request, "darn") != NULL)
    lk_decision_resolve(d, "{\"text\":\"d*** (moderated)\"}");
  else if (strstr(request, "spam") != NULL)
    lk_decision_resolve(d, "{\"allow\":false,\"reason\":\"spam\",\"message\":\"No ads.\"}");
  else if (strstr(request, "broken") != NULL)
    CHECK(lk_decision_resolve(d, "not json") == LK_ERR_INVALID);
  else
    lk_decision_resolve(d, NULL);
}

static void on_join_hook(const char *request, lk_decision *d, void *user) {
  hook_box *h = user;
  pthread_mutex_lock(&h->mu);
  h->join = d;
  pthread_mutex_unlock(&h->mu);
  inbox_push(&h->requests, request); /* after: whoever sees the request finds the decision */
}

static void test_hooks(void) {
  /* This thread answers the join hook by hand: a deadline far beyond how long that takes on
     a loaded machine (the default is 5 s). */
  lk_server *server = new_server(
      "{\"argon2_memory_kib\": 64, \"argon2_iterations\": 1, \"hook_timeout_ms\": 60000}");
  lk_client *ada = NULL;
  inbox events;
  reply_box r;
  hook_box h;
  char *reply = NULL;
  char lobby_id[64], data[128];
  lk_decision *join = NULL;

  inbox_init(&events);
  inbox_init(&h.requests);
  inbox_init(&r.replies);
  pthread_mutex_init(&h.mu, NULL);
  h.join = NULL;
  r.calls = 0;
  r.status = 1;
  REQUIRE(server != NULL);
  CHECK(lk_server_set_hook(server, 7, on_chat_hook, &h) == LK_ERR_INVALID);
  CHECK(lk_server_set_hook(server, LK_HOOK_CHAT, on_chat_hook, &h) == LK_OK);
  CHECK(lk_server_set_hook(server, LK_HOOK_JOIN, on_join_hook, &h) == LK_OK);
  CHECK(lk_server_start(server) == LK_OK);

  ada = new_client(server, 0, "Ada");
  REQUIRE(ada != NULL);
  lk_client_subscribe(NULL, ada, on_event, &events);
  CHECK(connect_client(ada, &events, "Ada"));
  CHECK(lk_client_request_wait(&reply, ada, "create_lobby", "{\"name\":\"Hooked\"}") == LK_OK);
  REQUIRE(reply && json_string(reply, "id", lobby_id, sizeof lobby_id));
  lk_free(reply);
  reply = NULL;

  /* The join waits for this thread's answer. */
  snprintf(data, sizeof data, "{\"lobby_id\":\"%s\"}", lobby_id);
  CHECK(lk_client_request(ada, "join_lobby", data, on_reply, &r) == LK_OK);
  CHECK(inbox_wait(&h.requests, "\"hook\":\"join\"") >= 0);
  CHECK(inbox_wait(&h.requests, "\"name\":\"Hooked\"") >= 0);
  pthread_mutex_lock(&h.mu);
  join = h.join;
  h.join = NULL;
  pthread_mutex_unlock(&h.mu);
  REQUIRE(join != NULL);
  pthread_mutex_lock(&r.replies.mu);
  CHECK(r.calls == 0); /* the join waits for this thread */
  pthread_mutex_unlock(&r.replies.mu);
  CHECK(lk_decision_resolve(join, "{\"allow\":false,\"reason\":\"closed\",\"message\":\"Not yet.\"}") == LK_OK);
  CHECK(inbox_wait(&r.replies, "\"reason\":\"closed\"") >= 0);
  CHECK(inbox_wait(&r.replies, "\"code\":\"denied\"") >= 0);

  /* Again, allowed this time. */
  CHECK(lk_client_request(ada, "join_lobby", data, on_reply, &r) == LK_OK);
  for (int waited_ms = 0; waited_ms < 15000; waited_ms += 5) { /* a deadline, not a hang */
    struct timespec pause = {0, 5 * 1000 * 1000};
    pthread_mutex_lock(&h.mu);
    join = h.join;
    h.join = NULL;
    pthread_mutex_unlock(&h.mu);
    if (join) break;
    nanosleep(&pause, NULL);
  }
  REQUIRE(join != NULL);
  CHECK(lk_decision_resolve(join, NULL) == LK_OK);
  CHECK(inbox_wait(&r.replies, "\"participants\"") >= 0);

  /* Chat: rewritten, denied, and a decision that is not JSON (hook_failed). */
  CHECK(lk_client_request_wait(NULL, ada, "chat", "{\"text\":\"darn it\"}") == LK_OK);
  CHECK(inbox_wait(&events, "d*** (moderated)") >= 0);
  CHECK(lk_client_request_wait(&reply, ada, "chat", "{\"text\":\"spam spam\"}") == LK_ERR_REQUEST);
  CHECK(reply && strstr(reply, "\"reason\":\"spam\"") != NULL);
  lk_free(reply);
  reply = NULL;
  CHECK(lk_client_request_wait(&reply, ada, "chat", "{\"text\":\"broken\"}") == LK_ERR_REQUEST);
  CHECK(reply && strstr(reply, "\"code\":\"hook_failed\"") != NULL);
  lk_free(reply);
  reply = NULL;

  /* Removed: chat goes through untouched. */
  CHECK(lk_server_set_hook(server, LK_HOOK_CHAT, NULL, NULL) == LK_OK);
  CHECK(lk_client_request_wait(NULL, ada, "chat", "{\"text\":\"darn again\"}") == LK_OK);
  CHECK(inbox_wait(&events, "\"text\":\"darn again\"") >= 0);

  lk_client_free(ada);
  lk_server_free(server);
  inbox_destroy(&events);
  inbox_destroy(&h.requests);
  inbox_destroy(&r.replies);
  pthread_mutex_destroy(&h.mu);
}

/* A reset_password_async reply as "<status> <json>" in the inbox. */
static void on_status(int status, const char *json, void *user_data) {
  char line[256];
  snprintf(line, sizeof line, "%d %s", status, json);
  inbox_push(user_data, line);
}

/* The host's operations (docs/embedding.md, "Operations"): a real server, a real client
 * that sees their effects. */
static void test_operations(void) {
  lk_server *server = new_server(NULL);
  lk_client *ada = NULL;
  inbox ada_events, server_events;
  char *json = NULL;
  char lobby_id[64], peer_id[64];
  long before;
  const char *notice[] = {"\"type\":\"chat\"", "\"text\":\"Welcome, all\"", "\"sender\":\"\"",
                          "\"system\":true", NULL};
  const char *renamed[] = {"\"type\":\"participant_updated\"", "\"name\":\"Ada Lovelace\"", NULL};

  inbox_init(&ada_events);
  inbox_init(&server_events);
  REQUIRE(server != NULL);
  CHECK(lk_server_subscribe(NULL, server, on_event, &server_events) == LK_OK);

  /* Before start: the lobby is made at once. */
  CHECK(lk_server_create_lobby(&json, server, "{\"name\":\"Hall\",\"private\":true}") == LK_OK);
  REQUIRE(json != NULL && json_string(json, "id", lobby_id, sizeof lobby_id));
  CHECK(strstr(json, "\"private\":true") != NULL);
  lk_free(json);
  json = NULL;
  CHECK(lk_server_create_lobby(&json, server, "{\"name\":\"hall\"}") == LK_ERR_REQUEST);
  CHECK(json != NULL && strstr(json, "\"code\":\"lobby_exists\"") != NULL);
  CHECK(strstr(lk_error_last()->message, "lobby_exists") != NULL);
  lk_free(json);
  json = NULL;
  CHECK(lk_server_create_lobby(NULL, server, "{\"name\":5}") == LK_ERR_INVALID);
  CHECK(lk_server_create_lobby(NULL, server, "[1]") == LK_ERR_INVALID);
  CHECK(lk_server_create_lobby(NULL, server, "{\"name\":\"x\",\"max_participants\":100000}") ==
        LK_ERR_REQUEST);
  CHECK(strstr(lk_error_last()->message, "bad_field") != NULL);

  CHECK(lk_server_start(server) == LK_OK);
  ada = new_client(server, 0, "Ada");
  REQUIRE(ada != NULL);
  CHECK(lk_client_subscribe(NULL, ada, on_event, &ada_events) == LK_OK);
  REQUIRE(connect_client(ada, &ada_events, "Ada"));
  {
    char data[128];
    snprintf(data, sizeof data, "{\"lobby_id\":\"%s\"}", lobby_id);
    CHECK(lk_client_request_wait(NULL, ada, "join_lobby", data) == LK_OK);
  }

  CHECK(lk_server_list_sessions(&json, server) == LK_OK);
  REQUIRE(json != NULL && json_string(json, "peer_id", peer_id, sizeof peer_id));
  CHECK(strstr(json, "{\"sessions\":[{") == json);
  CHECK(strstr(json, "\"name\":\"Ada\"") != NULL);
  lk_free(json);
  CHECK(lk_server_list_lobbies(&json, server) == LK_OK);
  CHECK(json != NULL && strstr(json, "\"participants\":[{\"peer_id\"") != NULL);
  lk_free(json);
  CHECK(lk_server_get_lobby(&json, server, lobby_id) == LK_OK);
  CHECK(json != NULL && strstr(json, "\"name\":\"Hall\"") != NULL &&
        strstr(json, peer_id) != NULL);
  lk_free(json);
  CHECK(lk_server_get_lobby(NULL, server, "nope") == LK_ERR_REQUEST);
  CHECK(lk_server_get_lobby(NULL, server, NULL) == LK_ERR_INVALID);

  CHECK(lk_server_update_lobby(&json, server, lobby_id, "{\"name\":\"Great hall\"}") == LK_OK);
  CHECK(json != NULL && strstr(json, "\"name\":\"Great hall\"") != NULL);
  lk_free(json);
  CHECK(inbox_wait(&server_events, "\"type\":\"lobby_updated\"") >= 0);
  CHECK(lk_server_update_lobby(NULL, server, lobby_id, "{\"private\":1}") == LK_ERR_INVALID);

  CHECK(lk_server_post_notice(&json, server, lobby_id, "Welcome, all") == LK_OK);
  CHECK(json != NULL && strstr(json, "\"system\":true") != NULL);
  lk_free(json);
  CHECK(inbox_wait_all(&ada_events, 0, notice) >= 0);
  CHECK(lk_server_post_notice(NULL, server, lobby_id, "") == LK_ERR_REQUEST);

  CHECK(lk_server_rename_session(&json, server, peer_id, "Ada Lovelace") == LK_OK);
  CHECK(json != NULL && strstr(json, "\"session\":{") != NULL &&
        strstr(json, "\"name\":\"Ada Lovelace\"") != NULL);
  lk_free(json);
  CHECK(inbox_wait_all(&ada_events, 0, renamed) >= 0);

  CHECK(lk_server_reset_password(&json, server, "ADA LOVELACE", "pw") == LK_OK);
  CHECK(json != NULL && strcmp(json, "{}") == 0);
  lk_free(json);
  json = NULL;
  CHECK(lk_server_reset_password(&json, server, "nobody", "pw") == LK_ERR_REQUEST);
  CHECK(json != NULL && strstr(json, "name_not_found") != NULL);
  lk_free(json);
  CHECK(lk_server_list_sessions(&json, server) == LK_OK);
  CHECK(json != NULL && strstr(json, "\"name_protected\":true") != NULL);
  lk_free(json);
  {
    inbox replies;
    inbox_init(&replies);
    CHECK(lk_server_reset_password_async(server, "Ada Lovelace", NULL, on_status, &replies) ==
          LK_OK);
    CHECK(inbox_wait(&replies, "0 {}") >= 0);
    inbox_destroy(&replies);
  }

  before = (long)inbox_count(&ada_events);
  CHECK(lk_server_kick_session(&json, server, peer_id) == LK_OK);
  CHECK(json != NULL && strcmp(json, "{}") == 0);
  lk_free(json);
  CHECK(inbox_wait_all(&ada_events, (size_t)before, (const char *const[]){"kicked", NULL}) >= 0);
  CHECK(lk_server_kick_session(NULL, server, peer_id) == LK_ERR_REQUEST);
  CHECK(strstr(lk_error_last()->message, "session_not_found") != NULL);

  CHECK(lk_server_remove_lobby(NULL, server, lobby_id) == LK_OK);
  CHECK(inbox_wait(&server_events, "\"type\":\"lobby_removed\"") >= 0);
  CHECK(lk_server_remove_lobby(NULL, server, lobby_id) == LK_ERR_REQUEST);

  lk_client_free(ada);
  lk_server_free(server);
  inbox_destroy(&ada_events);
  inbox_destroy(&server_events);
}


/* ---- runner ------------------------------------------------------------------------ */

typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case;

/* app_message handlers: "roll" answers itself; "" denies "cheat" and lets the rest through.
 * Both answer at once, on the loop thread. */
static void on_roll(const char *request_json, lk_decision *decision, void *user_data) {
  inbox_push(user_data, request_json);
  lk_decision_resolve(decision, "{\"reply\":{\"dice\":4}}");
}

static void on_any_app_message(const char *request_json, lk_decision *decision,
                               void *user_data) {
  inbox_push(user_data, request_json);
  if (strstr(request_json, "\"type\":\"cheat\""))
    lk_decision_resolve(decision, "{\"allow\":false,\"reason\":\"no_cheating\"}");
  else
    lk_decision_resolve(decision, NULL);
}

static void test_app_messages(void) {
  lk_server *server = new_server("{\"argon2_memory_kib\": 8, \"argon2_iterations\": 1,"
                                 " \"max_metadata_bytes\": 32}");
  lk_client *ada = NULL, *bo = NULL;
  inbox ada_events, bo_events, server_events, asked;
  char *json = NULL;
  char lobby_id[64], bo_peer[64], data[160];
  const char *const move[] = {"\"type\":\"app_message\"", "\"name\":\"move\"",
                              "\"from_name\":\"Ada\"", "\"payload\":{\"x\":1}", NULL};
  const char *const notice[] = {"\"type\":\"app_message\"", "\"name\":\"notice\"",
                                "\"from\":\"\"", "\"payload\":[1,2]", NULL};

  inbox_init(&ada_events);
  inbox_init(&bo_events);
  inbox_init(&server_events);
  inbox_init(&asked);
  REQUIRE(server != NULL);
  CHECK(lk_server_set_app_message_hook(server, "roll", on_roll, &asked) == LK_OK);
  CHECK(lk_server_set_app_message_hook(server, NULL, on_any_app_message, &asked) == LK_OK);
  CHECK(lk_server_set_app_message_hook(NULL, "x", on_roll, &asked) == LK_ERR_INVALID);
  CHECK(lk_server_subscribe(NULL, server, on_event, &server_events) == LK_OK);
  CHECK(lk_server_start(server) == LK_OK);
  ada = new_client(server, 0, "Ada");
  bo = new_client(server, 1, "Bo");
  REQUIRE(ada != NULL && bo != NULL);
  lk_client_subscribe(NULL, ada, on_event, &ada_events);
  lk_client_subscribe(NULL, bo, on_event, &bo_events);
  CHECK(connect_client(ada, &ada_events, "Ada"));
  CHECK(connect_client(bo, &bo_events, "Bo"));
  CHECK(lk_server_create_lobby(&json, server, "{\"name\":\"Table\"}") == LK_OK);
  REQUIRE(json && json_string(json, "id", lobby_id, sizeof lobby_id));
  lk_free(json);
  json = NULL;
  snprintf(data, sizeof data, "{\"lobby_id\":\"%s\"}", lobby_id);
  CHECK(lk_client_request_wait(NULL, ada, "join_lobby", data) == LK_OK);
  CHECK(lk_client_request_wait(&json, bo, "join_lobby", data) == LK_OK);
  lk_free(json);
  json = NULL;
  CHECK(lk_server_list_sessions(&json, server) == LK_OK);
  lk_free(json);
  json = NULL;

  /* Delivered after the "" handler allowed it; the host sees the event. */
  CHECK(lk_client_request_wait(&json, ada, "app_message",
                               "{\"name\":\"move\",\"payload\":{\"x\":1}}") == LK_OK);
  CHECK(json && strstr(json, "\"delivered\":1") != NULL);
  lk_free(json);
  json = NULL;
  CHECK(inbox_wait_all(&bo_events, 0, move) >= 0);
  CHECK(inbox_wait(&server_events, "\"type\":\"app_message\"") >= 0);
  CHECK(inbox_wait(&asked, "\"type\":\"move\"") >= 0);

  /* Handled by "roll": answered, delivered to nobody. */
  CHECK(lk_client_request_wait(&json, ada, "app_message", "{\"name\":\"roll\"}") == LK_OK);
  CHECK(json && strstr(json, "\"delivered\":0") != NULL &&
        strstr(json, "\"reply\":{\"dice\":4}") != NULL);
  lk_free(json);
  json = NULL;

  CHECK(lk_client_request_wait(&json, ada, "app_message", "{\"name\":\"cheat\"}") == LK_ERR_REQUEST);
  CHECK(json && strstr(json, "\"reason\":\"no_cheating\"") != NULL);
  lk_free(json);
  json = NULL;

  /* From the host. */
  CHECK(lk_server_send_app_message(&json, server, lobby_id, "notice", "[1, 2]", NULL) == LK_OK);
  CHECK(json && strcmp(json, "{}") == 0);
  lk_free(json);
  json = NULL;
  CHECK(inbox_wait_all(&ada_events, 0, notice) >= 0);
  CHECK(lk_server_send_app_message(&json, server, lobby_id, "notice", NULL, "nobody") ==
        LK_ERR_REQUEST);
  CHECK(json && strstr(json, "\"code\":\"unknown_peer\"") != NULL);
  lk_free(json);
  json = NULL;
  CHECK(lk_server_send_app_message(NULL, server, lobby_id, "bad name", NULL, NULL) ==
        LK_ERR_REQUEST);
  CHECK(lk_server_send_app_message(NULL, server, lobby_id, NULL, NULL, NULL) == LK_ERR_INVALID);

  /* Metadata. */
  CHECK(lk_server_set_lobby_metadata(&json, server, lobby_id, "{\"round\": 2}") == LK_OK);
  CHECK(json && strstr(json, "\"metadata\":{\"round\":2}") != NULL);
  lk_free(json);
  json = NULL;
  CHECK(inbox_wait(&ada_events, "\"metadata\":{\"round\":2}") >= 0);
  CHECK(lk_server_set_lobby_metadata(&json, server, lobby_id,
                                     "{\"k\":\"longer than thirty-two bytes of JSON\"}") ==
        LK_ERR_REQUEST);
  CHECK(json && strstr(json, "\"code\":\"bad_field\"") != NULL);
  lk_free(json);
  json = NULL;
  CHECK(lk_client_snapshot(&json, bo) == LK_OK);
  REQUIRE(json != NULL && json_string(json, "peer_id", bo_peer, sizeof bo_peer));
  lk_free(json);
  json = NULL;
  CHECK(lk_server_set_session_metadata(&json, server, bo_peer, "{\"team\":\"red\"}") == LK_OK);
  CHECK(json && strstr(json, "{\"session\":{") == json);
  lk_free(json);
  json = NULL;
  CHECK(inbox_wait(&ada_events, "\"metadata\":{\"team\":\"red\"}") >= 0);
  CHECK(lk_server_set_session_metadata(NULL, server, "nobody", "{}") == LK_ERR_REQUEST);
  CHECK(lk_server_set_session_metadata(NULL, server, bo_peer, NULL) == LK_ERR_INVALID);

  /* Handlers removed: nothing is asked any more. */
  CHECK(lk_server_set_app_message_hook(server, "", NULL, NULL) == LK_OK);
  CHECK(lk_server_set_app_message_hook(server, "roll", NULL, NULL) == LK_OK);
  CHECK(lk_client_request_wait(&json, ada, "app_message", "{\"name\":\"cheat\"}") == LK_OK);
  lk_free(json);
  json = NULL;
  CHECK(inbox_wait(&asked, "\"type\":\"roll\"") >= 0);
  pthread_mutex_lock(&asked.mu);
  CHECK(asked.count == 3); /* move, roll, cheat; not the last cheat */
  pthread_mutex_unlock(&asked.mu);

  lk_client_free(ada);
  lk_client_free(bo);
  lk_server_free(server);
  inbox_destroy(&ada_events);
  inbox_destroy(&bo_events);
  inbox_destroy(&server_events);
  inbox_destroy(&asked);
}

/* Access tokens: lk_mint_access_token, and the version-3 options that turn tokens on. */
static void test_tokens(void) {
  const char *secret = "c-test-secret-0123456789abcdef-0123";
  char *token = NULL;
  lk_server *server = NULL;
  lk_server_options v2;
  size_t dots = 0;
  const char *p;

  CHECK(lk_mint_access_token(&token, secret,
                             "{\"user_id\": \"u-1\", \"name\": \"Ada\", \"roles\": "
                             "[\"moderator\"], \"metadata\": {\"plan\": \"pro\"}, "
                             "\"lobby\": \"abc\"}",
                             60) == LK_OK);
  REQUIRE(token != NULL);
  for (p = token; *p; ++p) dots += *p == '.';
  CHECK(dots == 2);
  CHECK(strncmp(token, "eyJ", 3) == 0); /* base64url of '{"' */
  CHECK(strchr(token, '=') == NULL);
  lk_free(token);
  token = NULL;

  /* Refused: a short secret, no user, a bad role, an unknown claim, metadata not an object. */
  CHECK(lk_mint_access_token(&token, "short", "{\"user_id\": \"u\"}", 60) == LK_ERR_INVALID);
  CHECK(token == NULL);
  CHECK(strstr(lk_error_last()->message, "32") != NULL);
  CHECK(lk_mint_access_token(&token, secret, "{\"name\": \"Ada\"}", 60) == LK_ERR_INVALID);
  CHECK(strstr(lk_error_last()->message, "user_id") != NULL);
  CHECK(lk_mint_access_token(&token, secret, "{\"user_id\": \"u\", \"roles\": [\"Boss\"]}",
                             60) == LK_ERR_INVALID);
  CHECK(lk_mint_access_token(&token, secret, "{\"user_id\": \"u\", \"sub\": \"u\"}", 60) ==
        LK_ERR_INVALID);
  CHECK(lk_mint_access_token(&token, secret, "{\"user_id\": \"u\", \"metadata\": [1]}", 60) ==
        LK_ERR_INVALID);
  CHECK(lk_mint_access_token(&token, secret, "not json", 60) == LK_ERR_INVALID);
  CHECK(lk_mint_access_token(NULL, secret, "{\"user_id\": \"u\"}", 60) == LK_ERR_INVALID);
  CHECK(token == NULL);

  /* A version-2 struct ends before token_secret: init does not write it, new does not read. */
  memset(&v2, 0x5a, sizeof v2);
  CHECK(lk_server_options_init(&v2, 2) == LK_OK);
  CHECK(v2.version == 2 && v2.provider_keys == NULL);
  {
    const unsigned char *tail = (const unsigned char *)&v2.token_secret;
    CHECK(tail[0] == 0x5a);
  }
  v2.host = "127.0.0.1";
  v2.port = LK_PORT_ANY;
  v2.store_path = "";
  v2.limits_json = kCheapLimits;
  CHECK(lk_server_new(&server, &v2) == LK_OK);
  lk_server_free(server);
  server = NULL;

  {
    lk_server_options o = LK_SERVER_OPTIONS_INIT;
    CHECK(o.token_secret == NULL && o.require_token == 0);
    o.host = "127.0.0.1";
    o.port = LK_PORT_ANY;
    o.store_path = "";
    o.limits_json = "{\"token_skew_ms\": 1000, \"max_metadata_bytes\": 100}";
    o.token_secret = "too short";
    CHECK(lk_server_new(&server, &o) == LK_ERR_START);
    CHECK(strstr(lk_error_last()->message, "at least 32") != NULL);
    o.token_secret = secret;
    o.require_token = 1;
    CHECK(lk_server_new(&server, &o) == LK_OK);
    lk_server_free(server);
  }
}

static void on_auth_hook(const char *request, lk_decision *d, void *user) {
  inbox_push(user, request);
  lk_decision_resolve(d, NULL);
}

/* Version-3 client options: an access token makes the session (its name comes from the
 * token), and auth_data_json reaches the server's authenticate hook; a version-2 struct
 * ends before them. */
static void test_client_options_v3(void) {
  const char *secret = "c-test-secret-0123456789abcdef-0123";
  lk_server *server = NULL;
  lk_client *client = NULL;
  lk_client_options o = LK_CLIENT_OPTIONS_INIT;
  lk_client_options v2;
  inbox seen;
  char *token = NULL, *ready = NULL, *request = NULL, url[64];

  inbox_init(&seen);
  memset(&v2, 0x5a, sizeof v2);
  CHECK(lk_client_options_init(&v2, 2) == LK_OK);
  CHECK((uintptr_t)v2.access_token == (uintptr_t)0x5a5a5a5a5a5a5a5aull);
  CHECK(o.access_token == NULL && o.auth_data_json == NULL);

  {
    lk_server_options so = LK_SERVER_OPTIONS_INIT;
    so.host = "127.0.0.1";
    so.port = LK_PORT_ANY;
    so.store_path = "";
    so.limits_json = kCheapLimits;
    so.token_secret = secret;
    so.require_token = 1;
    REQUIRE(lk_server_new(&server, &so) == LK_OK);
  }
  CHECK(lk_server_set_hook(server, LK_HOOK_AUTHENTICATE, on_auth_hook, &seen) == LK_OK);
  CHECK(lk_server_start(server) == LK_OK);
  REQUIRE(lk_mint_access_token(&token, secret, "{\"user_id\": \"u-7\", \"name\": \"Ada\"}", 60) ==
          LK_OK);
  ws_url(url, sizeof url, server);
  o.url = url;
  o.reconnect_disabled = 1;

  o.auth_data_json = "[1]"; /* not an object: refused before anything starts */
  CHECK(lk_client_new(&client, &o) == LK_ERR_INVALID);
  CHECK(client == NULL);
  CHECK(strstr(lk_error_last()->message, "auth_data_json") != NULL);

  o.access_token = token;
  o.auth_data_json = "{\"invite\": \"c-123\"}";
  REQUIRE(lk_client_new(&client, &o) == LK_OK);
  CHECK(lk_client_start(client) == LK_OK);
  CHECK(lk_client_wait_ready(&ready, client, 10000) == LK_OK);
  CHECK(ready && strstr(ready, "\"name\":\"Ada\"") != NULL);
  CHECK(inbox_count(&seen) == 1);
  if (inbox_count(&seen) == 1) {
    pthread_mutex_lock(&seen.mu);
    request = seen.items[0];
    CHECK(strstr(request, "\"invite\":\"c-123\"") != NULL);
    CHECK(strstr(request, "\"claims\":{\"sub\":\"u-7\"") != NULL);
    CHECK(strstr(request, "access_token") == NULL); /* the claims, not the bearer token */
    pthread_mutex_unlock(&seen.mu);
  }
  lk_free(ready);
  lk_client_free(client);
  lk_server_free(server);
  lk_free(token);
  inbox_destroy(&seen);
}

static const test_case kCases[] = {
    {"version", test_version},
    {"errors", test_errors},
    {"options_init", test_options_init},
    {"start_errors", test_start_errors},
    {"socket_conversation", test_socket_conversation},
    {"in_process_conversation", test_in_process_conversation},
    {"request_errors", test_request_errors},
    {"async_request", test_async_request},
    {"wait_ready", test_wait_ready},
    {"callbacks_refuse_blocking_calls", test_callbacks_refuse_blocking_calls},
    {"client_freed_by_its_callback", test_client_freed_by_its_callback},
    {"server_freed_by_its_callback", test_server_freed_by_its_callback},
    {"unsubscribe", test_unsubscribe},
    {"post", test_post},
    {"drain", test_drain},
    {"options_v4", test_options_v4},
    {"bots", test_bots},
    {"hooks", test_hooks},
    {"tokens", test_tokens},
    {"client_options_v3", test_client_options_v3},
    {"operations", test_operations},
    {"app_messages", test_app_messages},
};

int main(int argc, char **argv) {
  size_t i, n = sizeof kCases / sizeof kCases[0];
  int a, ran = 0;
  for (i = 0; i < n; ++i) {
    int selected = argc < 2;
    for (a = 1; a < argc; ++a)
      if (strcmp(argv[a], kCases[i].name) == 0) selected = 1;
    if (!selected) continue;
    {
      int before = g_failures;
      kCases[i].fn();
      printf("%s %s\n", g_failures == before ? "ok  " : "FAIL", kCases[i].name);
      ++ran;
    }
  }
  if (ran == 0) {
    fprintf(stderr, "no such test case\n");
    return 2;
  }
  return g_failures == 0 ? 0 : 1;
}
