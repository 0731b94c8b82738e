//! The optimiser as SpERT sets it up: AdamW with weight decay on every weight but the biases
//! and LayerNorm weights, a learning rate that rises linearly over the warm-up steps and then
//! falls linearly to 0 (transformers' `get_linear_schedule_with_warmup`), and gradient-norm
//! clipping before each step.

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};
use candle_nn::VarMap;

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
            let scale =
                if g.dtype() == DType::F32 { scale.clone() } else { scale.to_dtype(g.dtype())? };
            let scaled = g.broadcast_mul(&scale)?;
            grads.insert(var, scaled);
        }
    }
    Ok(norm)
}

/// One weight's AdamW state.
struct Moments {
    var: Var,
    /// Whether weight decay applies (see [`decays`]).
    decays: bool,
    /// First and second moment estimates; plain tensors, replaced each step (no copy).
    m: Tensor,
    v: Tensor,
}

/// AdamW over two groups of weights (decayed and not, as SpERT sets up its optimiser) driven by
/// one [`LinearSchedule`], with gradient clipping. The update is PyTorch's AdamW,
/// `θ ← θ·(1 - lr·λ) - lr · m̂ / (√v̂ + ε)` with bias-corrected moments of the clipped gradient
/// (SpERT turns the correction off; with it, early steps stay small, which small models need).
/// Written for few kernel launches per weight: on a GPU a step of a small model is bound by
/// launches, not arithmetic.
pub struct Optimiser {
    weights: Vec<Moments>,
    vars: Vec<Var>,
    schedule: LinearSchedule,
    weight_decay: f64,
    max_grad_norm: f64,
    step: usize,
}

/// AdamW's β₁, β₂ and ε (transformers' defaults, as SpERT).
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-6;

impl Optimiser {
    /// Sets up the optimiser over every floating-point weight of `varmap`. Weights are taken in
    /// name order, so the clipping norm adds up the same way every run.
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
            data.iter()
                .filter(|(_, v)| v.dtype().is_float())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let weights = named
            .iter()
            .map(|(name, var)| {
                let zeros = var.as_tensor().zeros_like()?;
                Ok(Moments { var: var.clone(), decays: decays(name), m: zeros.clone(), v: zeros })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            weights,
            vars: named.into_iter().map(|(_, v)| v).collect(),
            schedule,
            weight_decay,
            max_grad_norm,
            step: 0,
        })
    }

    /// Clips `grads`, updates every weight at the current learning rate and advances the
    /// schedule. Returns the gradient norm before clipping (a device scalar).
    pub fn step(&mut self, mut grads: GradStore) -> Result<Tensor> {
        let norm = clip_grad_norm(&mut grads, &self.vars, self.max_grad_norm)?;
        let lr = self.schedule.lr_at(self.step);
        let t = (self.step + 1) as i32;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        for w in &mut self.weights {
            let Some(g) = grads.get(&w.var) else { continue };
            let m = ((&w.m * BETA1)? + (g * (1.0 - BETA1))?)?;
            let v = ((&w.v * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
            if lr > 0.0 {
                // lr · m̂ / (√v̂ + ε) with m̂, v̂ the bias-corrected moments, folded into scalars:
                // lr_t · m / (√v + ε_t), lr_t = lr·√(1-β₂ᵗ)/(1-β₁ᵗ), ε_t = ε·√(1-β₂ᵗ); and lr_t
                // moved into the denominator, so no kernel scales anything.
                let lr_t = lr * c2.sqrt() / c1;
                let update = (&m / v.sqrt()?.affine(1.0 / lr_t, EPS * c2.sqrt() / lr_t)?)?;
                let theta = w.var.as_tensor();
                let next = if w.decays && self.weight_decay > 0.0 {
                    (theta.affine(1.0 - lr * self.weight_decay, 0.0)? - update)?
                } else {
                    (theta - update)?
                };
                w.var.set(&next)?;
            }
            w.m = m;
            w.v = v;
        }
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
