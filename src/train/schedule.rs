//! The optimiser as SpERT sets it up: AdamW with weight decay on every weight but the biases
//! and LayerNorm weights, a learning rate that rises linearly over the warm-up steps and then
//! falls linearly to 0 (transformers' `get_linear_schedule_with_warmup`), and gradient-norm
//! clipping before each step.

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};

/// Linear warm-up to `peak` over `warmup_steps`, then linear decay to 0 at `total_steps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSchedule {
    /// The highest learning rate, reached at the end of the warm-up.
    pub peak: f64,
    /// Steps of the warm-up.
    pub warmup_steps: usize,
    /// All steps of the run.
    pub total_steps: usize,
}

impl LinearSchedule {
    /// A schedule whose warm-up covers `warmup_fraction` of `total_steps` (rounded down, as
    /// SpERT's `int(total * fraction)`).
    pub fn new(peak: f64, warmup_fraction: f64, total_steps: usize) -> Self {
        let warmup_steps = (total_steps as f64 * warmup_fraction.clamp(0.0, 1.0)) as usize;
        Self { peak, warmup_steps, total_steps }
    }

    /// The learning rate of optimiser step `step` (0-based): `peak · step / warmup` during the
    /// warm-up, then `peak · (total - step) / (total - warmup)`, never below 0.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let left = self.total_steps.saturating_sub(step) as f64;
        self.peak * left / self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64
    }
}

/// Whether weight decay applies to a weight, by its checkpoint name: not to biases and
/// LayerNorm weights (transformers' `no_decay = ["bias", "LayerNorm.weight"]`).
pub fn decays(name: &str) -> bool {
    !(name.contains("bias") || name.contains("LayerNorm.weight"))
}

/// Global L2 norm of the gradients of `vars` (as one tensor, on the device), and the gradients
/// scaled by `max_norm / norm` when that norm exceeds `max_norm` (`torch.nn.utils.
/// clip_grad_norm_`). Nothing is read back to the host.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<Tensor> {
    let mut squares = Vec::with_capacity(vars.len());
    for var in vars {
        if let Some(g) = grads.get(var) {
            squares.push(g.to_dtype(DType::F32)?.sqr()?.sum_all()?);
        }
    }
    if squares.is_empty() {
        return Tensor::new(0f32, &candle_core::Device::Cpu);
    }
    let norm = Tensor::stack(&squares, 0)?.sum_all()?.sqrt()?;
    // min(1, max_norm / (norm + 1e-6)), as PyTorch.
    let scale = (norm.affine(1.0, 1e-6)?.recip()? * max_norm)?.clamp(0f32, 1f32)?;
    for var in vars {
        if let Some(g) = grads.get(var) {
            let scaled = g.broadcast_mul(&scale.to_dtype(g.dtype())?)?;
            grads.insert(var, scaled);
        }
    }
    Ok(norm)
}

/// Two AdamW instances (decayed weights and the rest) driven by one [`LinearSchedule`], with
/// gradient clipping.
pub struct Optimiser {
    decayed: AdamW,
    undecayed: AdamW,
    vars: Vec<Var>,
    schedule: LinearSchedule,
    max_grad_norm: f64,
    step: usize,
}

impl Optimiser {
    /// Sets up the optimiser over every weight of `varmap`. Weights are taken in name order,
    /// so the clipping norm adds up the same way every run.
    pub fn new(
        varmap: &VarMap,
        schedule: LinearSchedule,
        weight_decay: f64,
        max_grad_norm: f64,
    ) -> Result<Self> {
        let mut named: Vec<(String, Var)> = {
            let data = varmap
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("the weights' lock is poisoned".into()))?;
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let (with, without): (Vec<_>, Vec<_>) = named.iter().partition(|(name, _)| decays(name));
        // transformers' AdamW defaults (SpERT): betas (0.9, 0.999), eps 1e-6.
        let params = |weight_decay| ParamsAdamW {
            lr: schedule.lr_at(0),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay,
        };
        let vars_of =
            |list: Vec<&(String, Var)>| list.into_iter().map(|(_, v)| v.clone()).collect();
        Ok(Self {
            decayed: AdamW::new(vars_of(with), params(weight_decay))?,
            undecayed: AdamW::new(vars_of(without), params(0.0))?,
            vars: named.into_iter().map(|(_, v)| v).collect(),
            schedule,
            max_grad_norm,
            step: 0,
        })
    }

    /// Clips `grads`, updates every weight at the current learning rate and advances the
    /// schedule. Returns the gradient norm before clipping (a device scalar).
    pub fn step(&mut self, mut grads: GradStore) -> Result<Tensor> {
        let norm = clip_grad_norm(&mut grads, &self.vars, self.max_grad_norm)?;
        let lr = self.schedule.lr_at(self.step);
        self.decayed.set_learning_rate(lr);
        self.undecayed.set_learning_rate(lr);
        self.decayed.step(&grads)?;
        self.undecayed.step(&grads)?;
        self.step += 1;
        Ok(norm)
    }

    /// Advances the schedule without updating any weight (a batch with nothing to learn).
    pub fn skip(&mut self) {
        self.step += 1;
    }

    /// Steps taken so far.
    pub fn steps_taken(&self) -> usize {
        self.step
    }

    /// The learning rate the next step will use.
    pub fn learning_rate(&self) -> f64 {
        self.schedule.lr_at(self.step)
    }
}
