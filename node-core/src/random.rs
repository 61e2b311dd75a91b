//! The randomness a step and its work draw from: the operating system's in the daemon, a
//! seeded generator in the simulator.

/// A source of randomness. The daemon draws from the operating system; the simulator from a
/// seeded generator, so a run is reproducible from its seed.
pub trait Random {
    fn fill(&mut self, dst: &mut [u8]);
}

/// HPKE takes its randomness through rand_core; this lends it the step's source.
pub(crate) struct HpkeRng<'a>(pub &'a mut dyn Random);

impl protocol_spec::seal::hpke_rng::TryRng for HpkeRng<'_> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}
impl protocol_spec::seal::hpke_rng::TryCryptoRng for HpkeRng<'_> {}
