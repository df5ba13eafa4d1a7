//! Password hashing and checking with argon2id on reused memory: a fixed set of hashing slots,
//! each with its own argon2 memory (19 MiB), allocated on first use and never freed. At most
//! one hash or check runs per slot, on the blocking thread pool, so a flood of logins queues
//! for a slot instead of allocating (and, through the allocator's per-thread arenas, keeping)
//! hundreds of megabytes. The PHC string format and plain-text seed passwords are `secret`'s.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::secret::AuthError;

/// One slot's argon2 memory.
pub(crate) struct Memory {
    blocks: Vec<Block>,
    /// argon2 computations run in this memory, so tests can count them.
    pub(crate) runs: u64,
}

impl Memory {
    pub(crate) fn new() -> Memory {
        Memory {
            blocks: vec![Block::default(); Params::DEFAULT.block_count()],
            runs: 0,
        }
    }

    /// At least `blocks` blocks: the slot's own memory, or (for a hash made with a larger
    /// memory cost than chatd's, only possible in an operator's file) a temporary one.
    fn blocks(&mut self, blocks: usize) -> TempOr<'_> {
        self.runs += 1;
        if blocks <= self.blocks.len() {
            TempOr::Slot(&mut self.blocks[..blocks])
        } else {
            TempOr::Temp(vec![Block::default(); blocks])
        }
    }
}

enum TempOr<'a> {
    Slot(&'a mut [Block]),
    Temp(Vec<Block>),
}

impl AsMut<[Block]> for TempOr<'_> {
    fn as_mut(&mut self) -> &mut [Block] {
        match self {
            TempOr::Slot(s) => s,
            TempOr::Temp(v) => v,
        }
    }
}

/// Hashes `password` as an argon2id PHC string (chatd's parameters: argon2's defaults),
/// in `memory`.
///
/// # Errors
/// [`AuthError::Hash`] if argon2 refuses (never with the default parameters).
pub(crate) fn hash_with(memory: &mut Memory, password: &str) -> Result<String, AuthError> {
    let err = |e: &dyn std::fmt::Display| AuthError::Hash(e.to_string());
    let params = Params::DEFAULT;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| err(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_raw,
            &mut out,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| err(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| err(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the argon2 PHC string `phc`, computed in `memory`. A string that
/// does not parse, or names parameters argon2 refuses, matches nothing.
pub(crate) fn verify_with(memory: &mut Memory, phc: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.hash,
        parsed.salt,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(password.as_bytes(), salt_raw, out, memory.blocks(blocks))
        .is_err()
    {
        return false;
    }
    // `Output`'s comparison is constant-time.
    Output::new(out).is_ok_and(|got| got == expected)
}

/// Hashes `password` with memory of its own (for one-off tools such as `hash-credentials`;
/// the server goes through [`hashing`]).
///
/// # Errors
/// [`AuthError::Hash`] if argon2 refuses.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    hash_with(&mut Memory::new(), password)
}

/// The hashing slots: a bounded channel holding one entry per slot (its memory, once it has
/// been allocated). Taking an entry is taking the slot.
struct Slots {
    tx: async_channel::Sender<Option<Memory>>,
    rx: async_channel::Receiver<Option<Memory>>,
}

/// How many hashes may run at once: one per CPU core, two at least.
pub(crate) fn slot_count() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let n = slot_count();
        let (tx, rx) = async_channel::bounded(n);
        for _ in 0..n {
            // Cannot fail: the channel has room for exactly these.
            let _ = tx.try_send(None);
        }
        Slots { tx, rx }
    })
}

/// A taken slot; dropping it gives the slot back, whatever happened to the work that held it
/// (finished, panicked, or cancelled before it ran).
struct Slot(Option<Memory>);

impl Slot {
    fn memory(&mut self) -> &mut Memory {
        self.0.get_or_insert_with(Memory::new)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // There is always room: only taken slots come back.
        let _ = slots().tx.try_send(self.0.take());
    }
}

/// Runs a password hash or check on the blocking thread pool once a slot is free, with that
/// slot's memory.
pub(crate) async fn hashing<T: Send + 'static>(
    work: impl FnOnce(&mut Memory) -> T + Send + 'static,
) -> T {
    // The sender lives in the same static: the channel never closes.
    let memory = slots().rx.recv().await.unwrap_or(None);
    let mut slot = Slot(memory);
    smol::unblock(move || work(slot.memory())).await
}

/// One argon2 check against a fixed hash, for answers that need no check (unknown or locked
/// account, plain-text seed password), so each costs as long as a wrong password for a hashed
/// account. Runs in the caller's slot.
pub(crate) fn spend_one_check(memory: &mut Memory, password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_with(&mut Memory::new(), "not-a-real-account").ok());
    if let Some(hash) = dummy {
        let _ = verify_with(memory, hash, password);
    }
}

/// [`spend_one_check`] in a slot of its own.
pub async fn equalize_timing(password: &str) {
    let password = password.to_string();
    hashing(move |memory| spend_one_check(memory, &password)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_interoperate_with_the_argon2_crate() {
        let mut memory = Memory::new();
        let ours = hash_with(&mut memory, "falcon*solo").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"falcon*solo", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"falcon", &parsed)
            .is_err());

        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"p@ss", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with(&mut memory, &theirs, "p@ss"));
        assert!(!verify_with(&mut memory, &theirs, "p@sS"));
        assert!(verify_with(&mut memory, &ours, "falcon*solo"));
        assert!(!verify_with(&mut memory, &ours, ""));
    }

    #[test]
    fn other_parameters_and_damaged_strings() {
        let mut memory = Memory::new();
        // A larger memory cost than the slot's, and argon2i: checked in temporary memory.
        let params = Params::new(Params::DEFAULT_M_COST * 2, 1, 1, Some(24)).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let big = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with(&mut memory, &big, "pw"));
        assert!(!verify_with(&mut memory, &big, "pW"));
        let good = hash_with(&mut memory, "pw").unwrap();
        for cut in [10, 20, 31, good.len() - 5, good.len() - 1] {
            assert!(!verify_with(&mut memory, &good[..cut], "pw"), "{cut}");
        }
        assert!(!verify_with(
            &mut memory,
            "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "pw"
        ));
    }

    #[test]
    fn a_cancelled_wait_gives_its_slot_back() {
        let run = async {
            // Start more checks than there are slots and drop them all half-way.
            for _ in 0..3 {
                let mut pending = Vec::new();
                for _ in 0..slot_count() * 2 {
                    pending.push(smol::spawn(equalize_timing("x")));
                }
                drop(pending);
            }
            // Every slot is free again: as many checks as slots run at once.
            let all: Vec<_> = (0..slot_count())
                .map(|_| smol::spawn(hashing(|m| hash_with(m, "pw").is_ok())))
                .collect();
            for t in all {
                assert!(t.await);
            }
        };
        let deadline = async {
            smol::Timer::after(std::time::Duration::from_secs(120)).await;
            panic!("a hashing slot was lost");
        };
        smol::block_on(smol::future::or(run, deadline));
    }
}
