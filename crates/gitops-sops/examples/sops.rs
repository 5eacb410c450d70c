//! A small `sops`-like command on top of the library, used by the peer benchmark:
//!
//! ```text
//! sops decrypt FILE...            # plaintext of each file to stdout
//! sops encrypt --age R1,R2 FILE   # encrypted file to stdout
//! sops decrypt-tree DIR           # decrypts every file below DIR in-process, prints the time
//! ```
//! Keys come from `SOPS_AGE_KEY_FILE` and `SOPS_AGE_KEY`, as for `sops`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use gitops_sops::{EncryptOptions, Keyring};

fn keys() -> anyhow::Result<Keyring> {
    let file = std::env::var("SOPS_AGE_KEY_FILE")
        .ok()
        .map(std::fs::read_to_string)
        .transpose()?;
    let key = std::env::var("SOPS_AGE_KEY").ok();
    Ok(Keyring::from_env_like(file.as_deref(), key.as_deref())?)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// CPU time of this thread in nanoseconds (Linux `schedstat`), robust to a busy machine.
fn cpu_time_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut stdout = std::io::stdout().lock();
    match args.first().map(String::as_str) {
        Some("decrypt") => {
            let keys = keys()?;
            for file in &args[1..] {
                let path = Path::new(file);
                let plain = gitops_sops::decrypt(path, &std::fs::read(path)?, &keys)?;
                stdout.write_all(plain.expose())?;
            }
        }
        Some("encrypt") if args.len() == 4 && args[1] == "--age" => {
            let opts = EncryptOptions::default().with_age_recipients(args[2].split(','));
            let path = Path::new(&args[3]);
            let out = gitops_sops::encrypt(path, &std::fs::read(path)?, &opts)?;
            stdout.write_all(&out)?;
        }
        Some("decrypt-tree") if args.len() == 2 => {
            let keys = keys()?;
            let mut files = Vec::new();
            walk(Path::new(&args[1]), &mut files)?;
            let contents: Vec<(PathBuf, Vec<u8>)> = files
                .into_iter()
                .map(|p| std::fs::read(&p).map(|c| (p, c)))
                .collect::<Result<_, _>>()?;
            let cpu_start = cpu_time_ns();
            let start = Instant::now();
            let mut bytes = 0;
            for (path, content) in &contents {
                bytes += gitops_sops::decrypt(path, content, &keys)?.len();
            }
            let elapsed = start.elapsed();
            let cpu = cpu_time_ns()
                .zip(cpu_start)
                .map(|(end, start)| (end - start) as f64 / 1e6);
            // A reconciler keeps its decryptor: the second pass reuses the unwrapped data keys.
            use gitops_core::Decryptor;
            let decryptor = gitops_sops::SopsDecryptor::new(keys.clone());
            let mut passes = Vec::new();
            for _ in 0..2 {
                let start = Instant::now();
                for (path, content) in &contents {
                    decryptor.decrypt_file(path, content)?;
                }
                passes.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            writeln!(
                stdout,
                "{} files, {bytes} bytes, {:.3} ms, cpu {} ms, decryptor passes {:.3} ms / {:.3} ms",
                contents.len(),
                elapsed.as_secs_f64() * 1000.0,
                cpu.map_or("?".to_string(), |c| format!("{c:.3}")),
                passes[0],
                passes[1]
            )?;
        }
        _ => anyhow::bail!(
            "usage: sops decrypt FILE... | sops encrypt --age R1,R2 FILE | sops decrypt-tree DIR"
        ),
    }
    Ok(())
}
