//! Both directions: what jobwire's `Producer` seals and the queue writes, a
//! real `sidekiq` process performs, now and at a time.

use crate::support::{block_on, fresh, performed, until, url, LedgerJob, Mailer};
use jobwire::backend::{Backend, Enqueue};
use jobwire::Producer;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

const SERVER: &str = r##"
require "sidekiq"
Sidekiq.configure_server do |config|
  config.redis = { url: ENV.fetch("REDIS_URL") }
  config.average_scheduled_poll_interval = 1
end
class LedgerJob
  include Sidekiq::Worker
  def perform(id, ms)
    Sidekiq.redis { |r| r.rpush("ledger:performed", "#{id}:ruby:0") }
  end
end
class Mailer
  include Sidekiq::Worker
  def perform(options)
    Sidekiq.redis { |r| r.rpush("ledger:performed", "#{options.fetch('user_id')}:ruby:0") }
  end
end
"##;

pub fn a_real_sidekiq_performs_what_jobwire_enqueues() {
    block_on(async {
        let queue = fresh().await;
        let producer = Producer::default();
        let now = producer.seal(&LedgerJob { id: 1, ms: 0 }).expect("seals");
        let hash = producer.seal(&Mailer { user_id: 2 }).expect("seals");
        let later = producer.seal(&LedgerJob { id: 3, ms: 0 }).expect("seals");
        queue.enqueue(Enqueue::new(&now)).await.expect("enqueues");
        queue.enqueue(Enqueue::new(&hash)).await.expect("enqueues");
        queue
            .enqueue(Enqueue::new(&later).at(SystemTime::now() + Duration::from_secs(1)))
            .await
            .expect("enqueues");
        let written: Vec<String> = redis::cmd("LRANGE")
            .arg("queue:default")
            .arg(0)
            .arg(-1)
            .query_async(&mut queue.connection())
            .await
            .expect("reads the queue");
        assert!(
            written
                .iter()
                .any(|job| job.contains(r#""class":"LedgerJob","args":[1,0]"#)
                    && job.contains(r#""jobwire_version":"1.0.0""#)),
            "positional arguments, class and version: {written:?}"
        );

        let dir = std::env::temp_dir().join(format!("jobwire-sidekiq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let app = dir.join("app.rb");
        std::fs::write(&app, SERVER).expect("writes the Ruby app");
        let mut sidekiq = Command::new("sidekiq")
            .arg("-r")
            .arg(&app)
            .args(["-q", "default", "-c", "2", "-t", "5"])
            .env("REDIS_URL", url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts sidekiq (Debian: ruby-sidekiq)");
        let done = until(Duration::from_secs(30), || async {
            performed(&queue).await.len() == 3
        })
        .await;
        let _ = Command::new("kill")
            .args(["-TERM", &sidekiq.id().to_string()])
            .status();
        let _ = sidekiq.wait();
        let _ = std::fs::remove_dir_all(&dir);
        let mut got: Vec<(i64, String)> = performed(&queue)
            .await
            .into_iter()
            .map(|(id, worker, _)| (id, worker))
            .collect();
        got.sort();
        assert!(done, "Sidekiq performed {got:?}");
        assert_eq!(
            got,
            [
                (1, "ruby".to_owned()),
                (2, "ruby".to_owned()),
                (3, "ruby".to_owned())
            ],
            "Ruby performed each once, the scheduled one too"
        );
    });
}
