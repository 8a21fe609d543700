//! The Lua scripts that make each change to the queue one atomic step in
//! Redis.
//!
//! jobwire's own keys, beside Sidekiq's:
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `jobwire:claims` | hash | claim id → the claimed job, as a record (below) |
//! | `jobwire:leases` | sorted set | claim id, scored by when its lease runs out (ms) |
//! | `jobwire:lost` | hash | jid → leases that ran out on it (attempts a dead worker made) |
//! | `jobwire:next-claim` | counter | the last claim id: every claim a new one, so a claim id is its own fence |
//! | `jobwire:enqueued` | counter | jobs jobwire enqueued |
//!
//! A record is one flag byte (`p` once a checkpoint saved progress, else
//! `-`), the queue's length in bytes, `:`, the queue, then the job's bytes.

/// Claims up to `limit` jobs.
///
/// ARGV: now (ms), lease (ms), limit, jobs acknowledged since the last
/// claim (for Sidekiq's `stat:processed`), today (`YYYY-MM-DD`), the number
/// of queues, the queues, then the job names to leave where they are.
///
/// First, leases that ran out put their jobs back at the head of their
/// queue (counting an attempt in `jobwire:lost` unless progress was
/// saved), and jobs due in `schedule` and `retry` move to the tail of
/// theirs, as Sidekiq's poller does. Then jobs are taken from the head of
/// each queue in turn, and recorded with their leases: one `INCRBY` for
/// their ids, one `HSET` and one `ZADD` for the whole batch.
///
/// Returns id, queue, job, leases lost on it, for each claim.
pub(crate) const CLAIM: &str = r#"
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local processed = tonumber(ARGV[4])
local today = ARGV[5]
local nq = tonumber(ARGV[6])
local skip = {}
local skipping = false
for i = 7 + nq, #ARGV do skip[ARGV[i]] = true; skipping = true end

if processed > 0 then
  redis.call('INCRBY', 'stat:processed', processed)
  redis.call('INCRBY', 'stat:processed:' .. today, processed)
end

local function decoded(job)
  local ok, value = pcall(cjson.decode, job)
  if ok and type(value) == 'table' then return value end
  return nil
end

local expired = redis.call('ZRANGEBYSCORE', 'jobwire:leases', '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  local rec = redis.call('HGET', 'jobwire:claims', id)
  redis.call('HDEL', 'jobwire:claims', id)
  redis.call('ZREM', 'jobwire:leases', id)
  if rec then
    local colon = string.find(rec, ':', 2, true)
    local n = tonumber(string.sub(rec, 2, colon - 1))
    local queue = string.sub(rec, colon + 1, colon + n)
    local job = string.sub(rec, colon + n + 1)
    if string.sub(rec, 1, 1) ~= 'p' then
      local value = decoded(job)
      if value and type(value.jid) == 'string' then
        redis.call('HINCRBY', 'jobwire:lost', value.jid, 1)
      end
    end
    redis.call('RPUSH', 'queue:' .. queue, job)
  end
end

local now_s = now / 1000
for _, set in ipairs({'schedule', 'retry'}) do
  local due = redis.call('ZRANGEBYSCORE', set, '-inf', now_s, 'LIMIT', 0, 100)
  for _, job in ipairs(due) do
    if redis.call('ZREM', set, job) == 1 then
      local queue = 'default'
      local value = decoded(job)
      if value and type(value.queue) == 'string' then queue = value.queue end
      redis.call('LPUSH', 'queue:' .. queue, job)
      redis.call('SADD', 'queues', queue)
    end
  end
end

local lost = redis.call('HLEN', 'jobwire:lost') > 0
local taken = {}
for q = 1, nq do
  if #taken >= limit then break end
  local queue = ARGV[6 + q]
  local key = 'queue:' .. queue
  if not skipping then
    local jobs = redis.call('RPOP', key, limit - #taken)
    if jobs then
      for _, job in ipairs(jobs) do taken[#taken + 1] = {queue, job} end
    end
  else
    local window = redis.call('LRANGE', key, -(limit - #taken + 1000), -1)
    for i = #window, 1, -1 do
      if #taken >= limit then break end
      local job = window[i]
      local value = decoded(job)
      local name = nil
      if value then name = value.wrapped or value.class end
      if not (type(name) == 'string' and skip[name]) then
        if redis.call('LREM', key, -1, job) == 1 then taken[#taken + 1] = {queue, job} end
      end
    end
  end
end

local out = {}
if #taken == 0 then return out end
local last = redis.call('INCRBY', 'jobwire:next-claim', #taken)
local records = {}
local leases = {}
for i, entry in ipairs(taken) do
  local id = last - #taken + i
  local queue, job = entry[1], entry[2]
  records[#records + 1] = id
  records[#records + 1] = '-' .. #queue .. ':' .. queue .. job
  leases[#leases + 1] = now + lease
  leases[#leases + 1] = id
  local times = 0
  if lost then
    local value = decoded(job)
    if value and type(value.jid) == 'string' then
      times = tonumber(redis.call('HGET', 'jobwire:lost', value.jid) or '0')
    end
  end
  out[#out + 1] = id
  out[#out + 1] = queue
  out[#out + 1] = job
  out[#out + 1] = times
end
redis.call('HSET', 'jobwire:claims', unpack(records))
redis.call('ZADD', 'jobwire:leases', unpack(leases))
return out
"#;

/// Extends leases. ARGV: the new expiry (ms), then claim ids. Returns the
/// ids no longer held.
pub(crate) const RENEW: &str = r#"
local lost = {}
for i = 2, #ARGV do
  if redis.call('HEXISTS', 'jobwire:claims', ARGV[i]) == 1 then
    redis.call('ZADD', 'jobwire:leases', 'XX', ARGV[1], ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
"#;

/// Ends a claim, fenced on the claim id. Returns 1, or 0 when the claim is
/// no longer held (nothing changed).
///
/// ARGV: claim id, jid (or ''), today (YYYY-MM-DD), what to do, then its
/// operands:
/// - `ack`: nothing (an acknowledgement is counted in `stat:processed` by
///   the next claim; most do not come here at all, see `Sidekiq::ack`);
/// - `push` queue job: back at the head of the queue;
/// - `schedule` score job, `retry` score job, `dead` score job: into that
///   sorted set.
pub(crate) const SETTLE: &str = r#"
local id, jid, today, action = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HDEL', 'jobwire:claims', id) == 0 then return 0 end
redis.call('ZREM', 'jobwire:leases', id)
if action == 'ack' then
  if jid ~= '' then redis.call('HDEL', 'jobwire:lost', jid) end
elseif action == 'push' then
  redis.call('RPUSH', 'queue:' .. ARGV[5], ARGV[6])
  redis.call('SADD', 'queues', ARGV[5])
else
  redis.call('ZADD', action, ARGV[5], ARGV[6])
  if action == 'dead' or action == 'retry' then
    redis.call('INCR', 'stat:failed')
    redis.call('INCR', 'stat:failed:' .. today)
    redis.call('INCR', 'stat:processed')
    redis.call('INCR', 'stat:processed:' .. today)
  end
  if action == 'dead' and jid ~= '' then redis.call('HDEL', 'jobwire:lost', jid) end
end
return 1
"#;

/// Replaces a claimed job's record (a checkpoint), fenced. ARGV: claim id,
/// the new record. Returns 1, or 0 when the claim is no longer held.
pub(crate) const CHECKPOINT: &str = r#"
if redis.call('HEXISTS', 'jobwire:claims', ARGV[1]) == 0 then return 0 end
redis.call('HSET', 'jobwire:claims', ARGV[1], ARGV[2])
return 1
"#;

/// A claim's record, as the scripts read it.
pub(crate) fn record(progressed: bool, queue: &str, job: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(job.len() + queue.len() + 8);
    out.push(if progressed { b'p' } else { b'-' });
    out.extend_from_slice(queue.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(queue.as_bytes());
    out.extend_from_slice(job);
    out
}

/// A record read back: progressed, queue, job. `None` if it is not one.
pub(crate) fn read_record(rec: &[u8]) -> Option<(bool, String, Vec<u8>)> {
    let (&flag, rest) = rec.split_first()?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let n: usize = std::str::from_utf8(rest.get(..colon)?).ok()?.parse().ok()?;
    let queue = rest.get(colon + 1..colon + 1 + n)?;
    let job = rest.get(colon + 1 + n..)?;
    Some((
        flag == b'p',
        String::from_utf8_lossy(queue).into_owned(),
        job.to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_reads_back() {
        let rec = super::record(true, "q:1", b"{\"a\":1}");
        assert_eq!(
            super::read_record(&rec),
            Some((true, "q:1".to_owned(), b"{\"a\":1}".to_vec()))
        );
        assert_eq!(super::read_record(b"-x"), None);
    }
}
