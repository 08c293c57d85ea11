//! Every function shape `#[timed]` accepts.
use perf_metrics::timed;

#[timed]
fn unit() {}

#[timed]
fn with_question_mark(input: &str) -> Result<u8, Box<dyn std::error::Error>> {
    Ok(input.parse::<u8>()?)
}

#[timed(name = "scan_duration_seconds", labels(scan_type = "nmap", r#type = "full"))]
async fn scan(host: String) -> Result<usize, std::io::Error> {
    Ok(host.len())
}

#[timed]
async fn async_question_mark(input: &str) -> Result<u8, Box<dyn std::error::Error>> {
    Ok(input.parse::<u8>()?)
}

#[timed]
fn borrowed<'a>(value: &'a str) -> &'a str {
    value
}

#[timed]
fn iterator(limit: u32) -> impl Iterator<Item = u32> {
    0..limit
}

#[timed]
fn generic<T: Default>() -> T {
    T::default()
}

#[timed]
fn early_return(flag: bool) -> u8 {
    if flag {
        return 1;
    }
    2
}

struct Service {
    calls: u32,
}

impl Service {
    #[timed]
    fn call(&mut self) -> u32 {
        self.calls += 1;
        self.calls
    }

    #[timed]
    async fn call_async(&self) -> u32 {
        self.calls
    }

    #[timed]
    fn consume(self) -> Self {
        self
    }
}

fn main() {
    unit();
    let _ = with_question_mark("1");
    let _ = scan(String::new());
    let _ = async_question_mark("1");
    let _ = borrowed("x");
    let _ = iterator(3).count();
    let _: u8 = generic();
    let _ = early_return(true);
    let mut service = Service { calls: 0 };
    let _ = service.call();
    let _ = service.call_async();
    let _ = service.consume();
}
