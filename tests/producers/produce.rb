# A Ruby producer for jobwire's queues: writes envelopes by hand.
#
#   ruby produce.rb sqlite PATH        # needs the sqlite3 gem (Debian: ruby-sqlite3)
#   ruby produce.rb postgres URL       # needs the pg gem (Debian: ruby-pg)
#
# The README's Ruby snippet is `envelope` and the two `enqueue_` methods.
require "json"
require "securerandom"

def envelope(job, version, args, **extra)
  { job: job, version: version, args: args,
    meta: { id: SecureRandom.uuid, enqueued_at: (Time.now.to_f * 1000).to_i } }
    .merge(extra).to_json
end

def enqueue_sqlite(db, payload, queue: "default")
  # A trigger fills the job and version columns.
  db.execute("INSERT INTO jobwire_jobs (queue, payload) VALUES (?, ?)",
             [queue, SQLite3::Blob.new(payload)])
end

def enqueue_postgres(conn, payload, queue: "default")
  # A trigger fills the job and version columns and wakes the workers.
  conn.exec_params("INSERT INTO jobwire_jobs (queue, payload) VALUES ($1, $2)",
                   [queue, { value: payload, format: 1 }])
end

kind, target = ARGV
plain = envelope("user.confirmation", "2.1.0",
                 { user_id: 11, message: "from ruby", date: "2026-11-24" })
extra_doc = JSON.parse(envelope("user.confirmation", "2.1.0",
                                { user_id: 12, message: "extra fields", priority: "high" },
                                trace: { sampled: true }))
extra_doc["meta"]["tenant"] = "acme"
extra = extra_doc.to_json
reordered = { args: { message: "reordered", user_id: 13 },
              version: "2.0.0", job: "user.confirmation" }.to_json

case kind
when "sqlite"
  require "sqlite3"
  db = SQLite3::Database.new(target)
  db.busy_timeout = 30_000
  [plain, extra, reordered].each { |payload| enqueue_sqlite(db, payload) }
  db.close
when "postgres"
  require "pg"
  conn = PG.connect(target)
  [plain, extra].each { |payload| enqueue_postgres(conn, payload) }
  # Stored through jsonb, which reorders keys (shortest first).
  conn.exec_params("INSERT INTO jobwire_jobs (payload) VALUES (convert_to($1::jsonb::text, 'UTF8'))",
                   [reordered])
  conn.close
else
  abort "usage: produce.rb sqlite PATH | postgres URL"
end
