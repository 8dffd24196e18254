//! X-ray physics: materials, tube spectra, the polychromatic forward model with
//! Poisson noise and photon starvation.
//!
//! ## Attenuation data
//!
//! Mass attenuation coefficients μ/ρ (cm²/g, total with coherent scattering) are the
//! values of J. H. Hubbell and S. M. Seltzer, *Tables of X-Ray Mass Attenuation
//! Coefficients and Mass Energy-Absorption Coefficients*, NIST Standard Reference
//! Database 126 (NISTIR 5632, version 1.4, 2004),
//! <https://physics.nist.gov/PhysRefData/XrayMassCoef/>: Table 3 for the elements
//! (H, Li, C, N, O, Na, Al, Si, Ca, Cr, Fe, Co, Ni, Cu, Zn, W, Pb), Table 4 for
//! water, polyethylene, PMMA, nylon ("radiochromic dye film, nylon base"),
//! polyethylene terephthalate ("Mylar"), polyvinyl chloride and
//! borosilicate glass ("Pyrex"). The grid is the NIST one from 20 to 200 keV (20, 30,
//! 40, 50, 60, 80, 100, 150, 200 keV) plus the K edges of tungsten (69.525 keV) and
//! lead (88.0045 keV), each listed twice (below and above the edge).
//!
//! Between grid points μ/ρ is interpolated linearly in (ln E, ln μ/ρ). Outside
//! 20–200 keV the end segments are extrapolated the same way (no edges are modelled
//! there; spectra start at 20 keV so this is never needed by the simulator).
//!
//! Materials without a Table 4 entry are mixtures by weight (the mixture rule
//! μ/ρ = Σ wᵢ (μ/ρ)ᵢ, exact away from edges): see [`Material`] for each composition.
//! Densities are nominal room-temperature values; porous goods (corrugated board,
//! folded clothes, bubble wrap) use the effective bulk density of the board or stack.
//!
//! ## Spectrum
//!
//! [`Spectrum::kramers`]: the unfiltered bremsstrahlung photon fluence of a tungsten
//! anode per unit energy follows Kramers' law, `dN/dE ∝ Z (E₀ − E) / E` for
//! `E < E₀ = kVp` (characteristic K lines and anode self-absorption are not modelled),
//! multiplied by the transmission `exp(−μ_Al(E) t_Al − μ_Cu(E) t_Cu)` of the inherent +
//! added filtration computed with this module's tables. It is discretised in bins of
//! `bin_kev` from 20 keV to the kVp, each bin represented by its centre energy;
//! photons below 20 keV are dropped (at 120 kVp they are 0.06 % of the filtered
//! fluence behind the default 2.5 mm Al + 0.1 mm Cu, 2.8 % behind 2 mm Al alone, and
//! would be absorbed by the parcel's first millimetres anyway). The weights are
//! photon-number fractions summing to 1.
//!
//! ## Detector and what is not modelled
//!
//! [`simulate`] models an ideal photon-counting detector (each photon counts 1,
//! Poisson statistics) or, optionally, an ideal energy-integrating one
//! ([`DetectorResponse`]). Scatter, detector blur and crosstalk, finite focal spot and
//! pixel size (one ray per pixel centre), the heel effect and characteristic lines are
//! not modelled; objects are ideal homogeneous solids.
//!
//! ## Effective energy
//!
//! [`Spectrum::effective_energy_kev`]: the energy at which water's μ equals the
//! beam-hardened effective μ of water, `μ_eff = −ln(T) / L` with `T` the transmitted
//! photon fraction through `L = 200 mm` of water. Voxelised ground truth is written
//! at this energy so that HU conversion (`volume::mu_to_hu`) is consistent with what a
//! reconstruction of a parcel-sized water object shows.

use ndarray::{Array3, Axis};
use rand_distr::{Distribution, Normal, Poisson};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geometry::Geometry;
use crate::phantom::{raycast::Scene, Phantom};
use crate::progress::{self, Progress};
use crate::{Error, Projections, Result};

/// Lowest photon energy of the simulated spectra, keV (start of the attenuation tables).
pub const MIN_ENERGY_KEV: f64 = 20.0;
/// Highest tabulated energy, keV; tube voltages are limited to this.
pub const MAX_ENERGY_KEV: f64 = 200.0;

/// A μ/ρ table: (keV, cm²/g), increasing energy, edges listed twice.
type Table = &'static [(f64, f64)];

// ---- NIST Table 3 (elements), μ/ρ in cm²/g ---------------------------------------
const H: Table = &[
    (20.0, 0.3695),
    (30.0, 0.3570),
    (40.0, 0.3458),
    (50.0, 0.3355),
    (60.0, 0.3260),
    (80.0, 0.3091),
    (100.0, 0.2944),
    (150.0, 0.2651),
    (200.0, 0.2429),
];
const LI: Table = &[
    (20.0, 0.1856),
    (30.0, 0.1644),
    (40.0, 0.1551),
    (50.0, 0.1488),
    (60.0, 0.1438),
    (80.0, 0.1356),
    (100.0, 0.1289),
    (150.0, 0.1158),
    (200.0, 0.1060),
];
const C: Table = &[
    (20.0, 0.4420),
    (30.0, 0.2562),
    (40.0, 0.2076),
    (50.0, 0.1871),
    (60.0, 0.1753),
    (80.0, 0.1610),
    (100.0, 0.1514),
    (150.0, 0.1347),
    (200.0, 0.1229),
];
const N: Table = &[
    (20.0, 0.6178),
    (30.0, 0.3066),
    (40.0, 0.2288),
    (50.0, 0.1980),
    (60.0, 0.1817),
    (80.0, 0.1639),
    (100.0, 0.1529),
    (150.0, 0.1353),
    (200.0, 0.1233),
];
const O: Table = &[
    (20.0, 0.8651),
    (30.0, 0.3779),
    (40.0, 0.2585),
    (50.0, 0.2132),
    (60.0, 0.1907),
    (80.0, 0.1678),
    (100.0, 0.1551),
    (150.0, 0.1361),
    (200.0, 0.1237),
];
const NA: Table = &[
    (20.0, 2.057),
    (30.0, 0.7197),
    (40.0, 0.3969),
    (50.0, 0.2804),
    (60.0, 0.2268),
    (80.0, 0.1796),
    (100.0, 0.1585),
    (150.0, 0.1335),
    (200.0, 0.1199),
];
const AL: Table = &[
    (20.0, 3.441),
    (30.0, 1.128),
    (40.0, 0.5685),
    (50.0, 0.3681),
    (60.0, 0.2778),
    (80.0, 0.2018),
    (100.0, 0.1704),
    (150.0, 0.1378),
    (200.0, 0.1223),
];
const SI: Table = &[
    (20.0, 4.464),
    (30.0, 1.436),
    (40.0, 0.7012),
    (50.0, 0.4385),
    (60.0, 0.3207),
    (80.0, 0.2228),
    (100.0, 0.1835),
    (150.0, 0.1448),
    (200.0, 0.1275),
];
const CA: Table = &[
    (20.0, 13.06),
    (30.0, 4.080),
    (40.0, 1.830),
    (50.0, 1.019),
    (60.0, 0.6578),
    (80.0, 0.3656),
    (100.0, 0.2571),
    (150.0, 0.1674),
    (200.0, 0.1376),
];
const CR: Table = &[
    (20.0, 20.38),
    (30.0, 6.434),
    (40.0, 2.856),
    (50.0, 1.550),
    (60.0, 0.9639),
    (80.0, 0.4905),
    (100.0, 0.3166),
    (150.0, 0.1788),
    (200.0, 0.1378),
];
const FE: Table = &[
    (20.0, 25.68),
    (30.0, 8.176),
    (40.0, 3.629),
    (50.0, 1.958),
    (60.0, 1.205),
    (80.0, 0.5952),
    (100.0, 0.3717),
    (150.0, 0.1964),
    (200.0, 0.1460),
];
const CO: Table = &[
    (20.0, 28.03),
    (30.0, 8.962),
    (40.0, 3.981),
    (50.0, 2.144),
    (60.0, 1.314),
    (80.0, 0.6414),
    (100.0, 0.3949),
    (150.0, 0.2023),
    (200.0, 0.1476),
];
const NI: Table = &[
    (20.0, 32.20),
    (30.0, 10.34),
    (40.0, 4.600),
    (50.0, 2.474),
    (60.0, 1.512),
    (80.0, 0.7306),
    (100.0, 0.4440),
    (150.0, 0.2208),
    (200.0, 0.1582),
];
const CU: Table = &[
    (20.0, 33.79),
    (30.0, 10.92),
    (40.0, 4.862),
    (50.0, 2.613),
    (60.0, 1.593),
    (80.0, 0.7630),
    (100.0, 0.4584),
    (150.0, 0.2217),
    (200.0, 0.1559),
];
const ZN: Table = &[
    (20.0, 37.19),
    (30.0, 12.07),
    (40.0, 5.384),
    (50.0, 2.892),
    (60.0, 1.760),
    (80.0, 0.8364),
    (100.0, 0.4973),
    (150.0, 0.2341),
    (200.0, 0.1617),
];
const W: Table = &[
    (20.0, 65.73),
    (30.0, 22.73),
    (40.0, 10.67),
    (50.0, 5.949),
    (60.0, 3.713),
    (69.525, 2.552),
    (69.525, 11.23),
    (80.0, 7.810),
    (100.0, 4.438),
    (150.0, 1.581),
    (200.0, 0.7844),
];
const PB: Table = &[
    (20.0, 86.36),
    (30.0, 30.32),
    (40.0, 14.36),
    (50.0, 8.041),
    (60.0, 5.021),
    (80.0, 2.419),
    (88.0045, 1.910),
    (88.0045, 7.683),
    (100.0, 5.549),
    (150.0, 2.014),
    (200.0, 0.9985),
];

// ---- NIST Table 4 (compounds and mixtures) ----------------------------------------
const WATER: Table = &[
    (20.0, 0.8096),
    (30.0, 0.3756),
    (40.0, 0.2683),
    (50.0, 0.2269),
    (60.0, 0.2059),
    (80.0, 0.1837),
    (100.0, 0.1707),
    (150.0, 0.1505),
    (200.0, 0.1370),
];
const POLYETHYLENE: Table = &[
    (20.0, 0.4315),
    (30.0, 0.2706),
    (40.0, 0.2275),
    (50.0, 0.2084),
    (60.0, 0.1970),
    (80.0, 0.1823),
    (100.0, 0.1719),
    (150.0, 0.1534),
    (200.0, 0.1402),
];
const PMMA: Table = &[
    (20.0, 0.5714),
    (30.0, 0.3032),
    (40.0, 0.2350),
    (50.0, 0.2074),
    (60.0, 0.1924),
    (80.0, 0.1751),
    (100.0, 0.1641),
    (150.0, 0.1456),
    (200.0, 0.1328),
];
const NYLON: Table = &[
    (20.0, 0.5132),
    (30.0, 0.2890),
    (40.0, 0.2312),
    (50.0, 0.2071),
    (60.0, 0.1936),
    (80.0, 0.1774),
    (100.0, 0.1666),
    (150.0, 0.1482),
    (200.0, 0.1353),
];
const PET: Table = &[
    (20.0, 0.5798),
    (30.0, 0.3009),
    (40.0, 0.2304),
    (50.0, 0.2020),
    (60.0, 0.1868),
    (80.0, 0.1695),
    (100.0, 0.1586),
    (150.0, 0.1406),
    (200.0, 0.1282),
];
const PVC: Table = &[
    (20.0, 4.578),
    (30.0, 1.491),
    (40.0, 0.7300),
    (50.0, 0.4559),
    (60.0, 0.3325),
    (80.0, 0.2298),
    (100.0, 0.1887),
    (150.0, 0.1486),
    (200.0, 0.1308),
];
const PYREX: Table = &[
    (20.0, 2.297),
    (30.0, 0.7987),
    (40.0, 0.4341),
    (50.0, 0.3022),
    (60.0, 0.2417),
    (80.0, 0.1890),
    (100.0, 0.1657),
    (150.0, 0.1389),
    (200.0, 0.1246),
];

/// Log-log interpolation in a table with possibly repeated (edge) energies.
fn interp(table: Table, e: f64) -> f64 {
    let n = table.len();
    let seg = if e <= table[0].0 {
        0
    } else if e >= table[n - 1].0 {
        n - 2
    } else {
        // First segment [i, i+1] of non-zero width with E_i ≤ e ≤ E_{i+1}.
        (0..n - 1)
            .find(|&i| table[i].0 < table[i + 1].0 && table[i].0 <= e && e <= table[i + 1].0)
            .unwrap_or(n - 2)
    };
    let (e0, m0) = table[seg];
    let (e1, m1) = table[seg + 1];
    let t = (e.ln() - e0.ln()) / (e1.ln() - e0.ln());
    (m0.ln() + t * (m1.ln() - m0.ln())).exp()
}

/// Mixture rule over (weight fraction, table) pairs.
fn mix(parts: &[(f64, Table)], e: f64) -> f64 {
    parts.iter().map(|&(w, t)| w * interp(t, e)).sum()
}

macro_rules! materials {
    ($( $(#[$doc:meta])* $var:ident => $name:literal, $rho:expr, $comp:expr; )*) => {
        /// A material with its density and μ/ρ(E) (see the module docs for sources).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Material {
            $( $(#[$doc])* $var, )*
        }

        impl Material {
            /// Every material, in declaration order ([`Material::index`]).
            pub const ALL: &'static [Material] = &[ $( Material::$var, )* ];

            /// The snake-case name used in the API and in files (`"steel"`, `"pmma"` …).
            pub fn name(self) -> &'static str {
                match self { $( Material::$var => $name, )* }
            }

            /// Nominal density in g/cm³.
            pub fn density_g_cm3(self) -> f64 {
                match self { $( Material::$var => $rho, )* }
            }

            /// Mass attenuation coefficient μ/ρ in cm²/g at `energy_kev` (log-log
            /// interpolated; valid 20–200 keV, extrapolated outside).
            pub fn mass_attenuation_cm2_g(self, energy_kev: f64) -> f64 {
                let parts: &[(f64, Table)] = match self { $( Material::$var => $comp, )* };
                mix(parts, energy_kev)
            }
        }
    };
}

materials! {
    /// Liquid water, 1.00 g/cm³ (NIST Table 4).
    Water => "water", 1.00, &[(1.0, WATER)];
    /// High-density polyethylene, 0.95 g/cm³ (NIST Table 4 polyethylene).
    Polyethylene => "polyethylene", 0.95, &[(1.0, POLYETHYLENE)];
    /// Polyethylene bubble wrap / foam padding, effective 0.04 g/cm³.
    BubbleWrap => "bubble_wrap", 0.04, &[(1.0, POLYETHYLENE)];
    /// Acrylic (PMMA), 1.18 g/cm³ (NIST Table 4).
    Pmma => "pmma", 1.18, &[(1.0, PMMA)];
    /// ABS (acrylonitrile 25 %, butadiene 20 %, styrene 55 % by weight): C 0.855,
    /// H 0.079, N 0.066 by weight (mixture rule), 1.05 g/cm³.
    Abs => "abs", 1.05, &[(0.855, C), (0.079, H), (0.066, N)];
    /// Nylon (polyamide; NIST Table 4 "nylon base"), 1.14 g/cm³.
    Nylon => "nylon", 1.14, &[(1.0, NYLON)];
    /// Glass-fibre reinforced nylon of polymer pistol frames: 70 % nylon + 30 %
    /// glass fibre by weight (fibre approximated by NIST borosilicate glass), 1.38 g/cm³.
    NylonGlassFilled => "nylon_glass_filled", 1.38, &[(0.70, NYLON), (0.30, PYREX)];
    /// Polyethylene terephthalate (bottles, film; NIST Table 4 "Mylar"), 1.38 g/cm³.
    Pet => "pet", 1.38, &[(1.0, PET)];
    /// Flexible PVC (cable insulation; NIST Table 4), 1.38 g/cm³.
    Pvc => "pvc", 1.38, &[(1.0, PVC)];
    /// Shoe-sole rubber: polyisoprene C₅H₈ (C 0.8816, H 0.1184), 1.10 g/cm³ (fillers
    /// not modelled).
    Rubber => "rubber", 1.10, &[(0.8816, C), (0.1184, H)];
    /// Leather, approximated by nylon's C/H/N/O composition (NIST Table 4 nylon),
    /// 0.86 g/cm³.
    Leather => "leather", 0.86, &[(1.0, NYLON)];
    /// Dry wood as cellulose C₆H₁₀O₅ (C 0.4445, H 0.0622, O 0.4933), 0.55 g/cm³.
    Wood => "wood", 0.55, &[(0.4445, C), (0.0622, H), (0.4933, O)];
    /// Paper and books as cellulose, 0.80 g/cm³.
    Paper => "paper", 0.80, &[(0.4445, C), (0.0622, H), (0.4933, O)];
    /// Corrugated cardboard as cellulose, effective board density 0.15 g/cm³.
    Cardboard => "cardboard", 0.15, &[(0.4445, C), (0.0622, H), (0.4933, O)];
    /// Folded cotton clothes as cellulose, effective stack density 0.25 g/cm³.
    Cotton => "cotton", 0.25, &[(0.4445, C), (0.0622, H), (0.4933, O)];
    /// Soda-lime glass (SiO₂ 74 %, Na₂O 15 %, CaO 11 %: O 0.4642, Si 0.3459,
    /// Na 0.1113, Ca 0.0786 by weight), 2.50 g/cm³.
    Glass => "glass", 2.50, &[(0.4642, O), (0.3459, SI), (0.1113, NA), (0.0786, CA)];
    /// Glass–epoxy circuit board (FR-4): 55 % glass (NIST borosilicate) + 45 % resin
    /// (approximated by PMMA) by weight, 1.85 g/cm³.
    Fr4 => "fr4", 1.85, &[(0.55, PYREX), (0.45, PMMA)];
    /// Smokeless propellant (nitrocellulose, C 0.2427, H 0.0237, N 0.1415, O 0.5921),
    /// loose powder 0.90 g/cm³.
    Propellant => "propellant", 0.90, &[(0.2427, C), (0.0237, H), (0.1415, N), (0.5921, O)];
    /// Aluminium, 2.70 g/cm³.
    Aluminium => "aluminium", 2.70, &[(1.0, AL)];
    /// Carbon steel as pure iron, 7.85 g/cm³.
    Steel => "steel", 7.85, &[(1.0, FE)];
    /// Stainless steel (AISI 304-like: Fe 0.72, Cr 0.18, Ni 0.10), 8.00 g/cm³.
    StainlessSteel => "stainless_steel", 8.00, &[(0.72, FE), (0.18, CR), (0.10, NI)];
    /// Cartridge brass (Cu 0.70, Zn 0.30), 8.53 g/cm³.
    Brass => "brass", 8.53, &[(0.70, CU), (0.30, ZN)];
    /// Copper, 8.96 g/cm³.
    Copper => "copper", 8.96, &[(1.0, CU)];
    /// Lead, 11.35 g/cm³.
    Lead => "lead", 11.35, &[(1.0, PB)];
    /// Tungsten, 19.3 g/cm³.
    Tungsten => "tungsten", 19.3, &[(1.0, W)];
    /// Contents of a lithium-ion 18650 cell (rough average of LiCoO₂ cathode, graphite
    /// anode, Cu/Al foils, electrolyte: Co 0.241, C 0.325, O 0.206, Cu 0.120, Al 0.060,
    /// Li 0.028, H 0.020 by weight), 2.60 g/cm³.
    LiIonCell => "li_ion_cell", 2.60,
        &[(0.241, CO), (0.325, C), (0.206, O), (0.120, CU), (0.060, AL), (0.028, LI), (0.020, H)];
}

impl Material {
    /// Number of materials.
    pub const COUNT: usize = Material::ALL.len();

    /// Position in [`Material::ALL`].
    pub fn index(self) -> usize {
        Material::ALL
            .iter()
            .position(|&m| m == self)
            .expect("every material is listed")
    }

    /// Linear attenuation μ in mm⁻¹ at `energy_kev`: μ/ρ · ρ / 10.
    ///
    /// # Example
    /// ```
    /// use ctscreen::physics::Material;
    /// // NIST: iron at 100 keV, μ/ρ = 0.3717 cm²/g.
    /// let mu = Material::Steel.mu_per_mm(100.0);
    /// assert!((mu - 0.3717 * 7.85 / 10.0).abs() < 1e-9);
    /// ```
    pub fn mu_per_mm(self, energy_kev: f64) -> f64 {
        self.mass_attenuation_cm2_g(energy_kev) * self.density_g_cm3() / 10.0
    }

    /// Looks a material up by [`Material::name`] (case-insensitive; `aluminum`,
    /// `iron`, `acrylic`, `plastic` are accepted as aliases).
    ///
    /// **Errors** naming the unknown name and listing the known ones.
    pub fn from_name(name: &str) -> Result<Material> {
        let n = name.trim().to_ascii_lowercase();
        let alias = match n.as_str() {
            "aluminum" | "al" => Some(Material::Aluminium),
            "iron" | "fe" => Some(Material::Steel),
            "acrylic" | "perspex" => Some(Material::Pmma),
            "plastic" => Some(Material::Abs),
            _ => None,
        };
        if let Some(m) = alias {
            return Ok(m);
        }
        Material::ALL
            .iter()
            .copied()
            .find(|m| m.name() == n)
            .ok_or_else(|| {
                let known: Vec<&str> = Material::ALL.iter().map(|m| m.name()).collect();
                Error::invalid("material", name, format!("one of {}", known.join(", ")))
            })
    }

    /// True for metals (aluminium and denser).
    pub fn is_metal(self) -> bool {
        matches!(
            self,
            Material::Aluminium
                | Material::Steel
                | Material::StainlessSteel
                | Material::Brass
                | Material::Copper
                | Material::Lead
                | Material::Tungsten
        )
    }
}

impl std::fmt::Display for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Tube filtration (inherent + added), millimetres of aluminium and copper.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Filtration {
    /// Aluminium thickness, mm.
    pub al_mm: f64,
    /// Copper thickness, mm.
    pub cu_mm: f64,
}

impl Default for Filtration {
    /// 2.5 mm Al + 0.1 mm Cu, a typical security/medical CT pre-filter.
    fn default() -> Self {
        Self {
            al_mm: 2.5,
            cu_mm: 0.1,
        }
    }
}

/// A discretised X-ray spectrum: bin centre energies (keV) and photon-number weights
/// summing to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spectrum {
    energies_kev: Vec<f64>,
    weights: Vec<f64>,
}

impl Spectrum {
    /// Kramers' law bremsstrahlung spectrum of a tungsten tube at `kvp` kV, filtered
    /// by `filtration`, in bins of `bin_kev` keV from 20 keV to `kvp` (see the module
    /// docs for the model).
    ///
    /// **Errors** if `kvp` is not in 30–200 kV, `bin_kev` not in (0, 10] keV, or a
    /// filtration thickness is negative or not finite.
    ///
    /// # Example
    /// ```
    /// use ctscreen::physics::{Filtration, Spectrum};
    /// let s = Spectrum::kramers(120.0, Filtration::default(), 1.0).unwrap();
    /// assert_eq!(s.energies_kev().len(), 100);
    /// assert!((s.weights().iter().sum::<f64>() - 1.0).abs() < 1e-12);
    /// let e = s.effective_energy_kev();
    /// assert!(e > 50.0 && e < 80.0, "{e}");
    /// ```
    pub fn kramers(kvp: f64, filtration: Filtration, bin_kev: f64) -> Result<Self> {
        if !kvp.is_finite() || !(30.0..=MAX_ENERGY_KEV).contains(&kvp) {
            return Err(Error::invalid(
                "spectrum_kvp",
                kvp,
                "a tube voltage in 30–200 kV",
            ));
        }
        if !bin_kev.is_finite() || bin_kev <= 0.0 || bin_kev > 10.0 {
            return Err(Error::invalid(
                "bin_kev",
                bin_kev,
                "a bin width in (0, 10] keV",
            ));
        }
        for (name, v) in [
            ("filtration al_mm", filtration.al_mm),
            ("filtration cu_mm", filtration.cu_mm),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::invalid(name, v, "a finite thickness ≥ 0 mm"));
            }
        }
        let n = ((kvp - MIN_ENERGY_KEV) / bin_kev).ceil() as usize;
        let mut energies = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(n);
        for i in 0..n {
            let lo = MIN_ENERGY_KEV + i as f64 * bin_kev;
            let hi = (lo + bin_kev).min(kvp);
            if hi <= lo {
                break;
            }
            let e = 0.5 * (lo + hi);
            let kramers = (kvp - e) / e * (hi - lo);
            let filt = (-Material::Aluminium.mu_per_mm(e) * filtration.al_mm
                - Material::Copper.mu_per_mm(e) * filtration.cu_mm)
                .exp();
            energies.push(e);
            weights.push(kramers * filt);
        }
        Self::from_weights(energies, weights)
    }

    /// A single-energy beam.
    ///
    /// **Errors** if the energy is not in 20–200 keV.
    pub fn monochromatic(energy_kev: f64) -> Result<Self> {
        if !energy_kev.is_finite() || !(MIN_ENERGY_KEV..=MAX_ENERGY_KEV).contains(&energy_kev) {
            return Err(Error::invalid(
                "energy_kev",
                energy_kev,
                "an energy in 20–200 keV",
            ));
        }
        Ok(Self {
            energies_kev: vec![energy_kev],
            weights: vec![1.0],
        })
    }

    /// A spectrum from bin energies (keV, 20–200) and non-negative photon weights
    /// (normalised here to sum to 1).
    ///
    /// **Errors** if the lengths differ, a list is empty, an energy is out of range or
    /// a weight negative, or all weights are zero.
    pub fn from_weights(energies_kev: Vec<f64>, weights: Vec<f64>) -> Result<Self> {
        if energies_kev.len() != weights.len() || energies_kev.is_empty() {
            return Err(Error::shape(
                "spectrum energies/weights",
                energies_kev.len(),
                weights.len(),
            ));
        }
        if let Some(e) = energies_kev
            .iter()
            .find(|e| !e.is_finite() || !(MIN_ENERGY_KEV..=MAX_ENERGY_KEV).contains(*e))
        {
            return Err(Error::invalid(
                "spectrum energy",
                e,
                "energies in 20–200 keV",
            ));
        }
        if let Some(w) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(Error::invalid("spectrum weight", w, "finite weights ≥ 0"));
        }
        let total: f64 = weights.iter().sum();
        if !total.is_finite() {
            return Err(Error::invalid(
                "spectrum weights",
                "a sum that overflows",
                "weights whose sum is finite",
            ));
        }
        if total <= 0.0 {
            return Err(Error::invalid(
                "spectrum weights",
                "all zero",
                "a positive total",
            ));
        }
        Ok(Self {
            energies_kev,
            weights: weights.into_iter().map(|w| w / total).collect(),
        })
    }

    /// Bin centre energies, keV.
    pub fn energies_kev(&self) -> &[f64] {
        &self.energies_kev
    }

    /// Photon-number fraction per bin (sums to 1).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Photon-weighted mean energy, keV.
    pub fn mean_energy_kev(&self) -> f64 {
        self.energies_kev
            .iter()
            .zip(&self.weights)
            .map(|(e, w)| e * w)
            .sum()
    }

    /// Fraction of photons transmitted through `thickness_mm` of `material`.
    pub fn transmission(&self, material: Material, thickness_mm: f64) -> f64 {
        self.energies_kev
            .iter()
            .zip(&self.weights)
            .map(|(&e, &w)| w * (-material.mu_per_mm(e) * thickness_mm).exp())
            .sum()
    }

    /// The effective energy (keV): where water's μ equals `−ln T / 200 mm`, `T` the
    /// photon fraction transmitted by 200 mm of water (module docs).
    pub fn effective_energy_kev(&self) -> f64 {
        const L: f64 = 200.0;
        let mu_eff = -self.transmission(Material::Water, L).ln() / L;
        // Water's μ falls monotonically with energy over 20–200 keV: bisect in ln E.
        let (mut lo, mut hi) = (MIN_ENERGY_KEV.ln(), MAX_ENERGY_KEV.ln());
        if Material::Water.mu_per_mm(lo.exp()) <= mu_eff {
            return MIN_ENERGY_KEV;
        }
        if Material::Water.mu_per_mm(hi.exp()) >= mu_eff {
            return MAX_ENERGY_KEV;
        }
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if Material::Water.mu_per_mm(mid.exp()) > mu_eff {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (0.5 * (lo + hi)).exp()
    }
}

/// The effective energy of `spectrum` (see [`Spectrum::effective_energy_kev`]).
pub fn effective_energy_kev(spectrum: &Spectrum) -> f64 {
    spectrum.effective_energy_kev()
}

/// Options of [`simulate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulateOptions {
    /// Tube voltage, kV (30–200). Default 120.
    pub kvp: f64,
    /// Inherent + added filtration. Default 2.5 mm Al + 0.1 mm Cu.
    pub filtration: Filtration,
    /// Spectrum bin width, keV. Default 2.
    pub bin_kev: f64,
    /// Photons per detector pixel in the unattenuated beam (I0). Default 1e5.
    pub photons: f64,
    /// Seed of the noise; view `i` draws from its own generator seeded by `(seed, i)`.
    pub seed: u64,
    /// Poisson noise on (default) or off (expected counts).
    pub noise: bool,
    /// Standard deviation of additive Gaussian electronic noise, in photons. Default 0.
    pub electronic_noise: f64,
    /// Photon-starvation floor: counts below it (including 0 and negative counts from
    /// electronic noise) are raised to it before `−ln(I/I0)`. Default 0.5 photon (for
    /// the energy-integrating detector: 0.5 photon of the unattenuated mean energy).
    pub count_floor: f64,
    /// Photon counting (default) or energy integrating.
    #[serde(default)]
    pub detector: DetectorResponse,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            kvp: 120.0,
            filtration: Filtration::default(),
            bin_kev: 2.0,
            photons: 1e5,
            seed: 0,
            noise: true,
            electronic_noise: 0.0,
            count_floor: 0.5,
            detector: DetectorResponse::PhotonCounting,
        }
    }
}

impl SimulateOptions {
    /// The spectrum these options describe.
    ///
    /// **Errors** as [`Spectrum::kramers`].
    pub fn spectrum(&self) -> Result<Spectrum> {
        Spectrum::kramers(self.kvp, self.filtration, self.bin_kev)
    }

    fn validate(&self) -> Result<()> {
        if !self.photons.is_finite() || self.photons <= 0.0 || self.photons > 1e15 {
            return Err(Error::invalid(
                "photons",
                self.photons,
                "a photon count per pixel in (0, 1e15]",
            ));
        }
        if !self.electronic_noise.is_finite() || self.electronic_noise < 0.0 {
            return Err(Error::invalid(
                "electronic_noise",
                self.electronic_noise,
                "a finite standard deviation ≥ 0 photons",
            ));
        }
        if !self.count_floor.is_finite()
            || self.count_floor <= 0.0
            || self.count_floor >= self.photons
        {
            return Err(Error::invalid(
                "count_floor",
                self.count_floor,
                format!("a floor in (0, photons = {})", self.photons),
            ));
        }
        Ok(())
    }
}

/// A Poisson draw of mean `lambda` (0 for a non-positive mean).
fn poisson(rng: &mut Pcg64, lambda: f64) -> f64 {
    if lambda > 0.0 {
        Poisson::new(lambda)
            .map(|d| d.sample(rng))
            .unwrap_or(lambda)
    } else {
        0.0
    }
}

/// How the detector turns photons into a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorResponse {
    /// Every photon counts 1 (Poisson counts).
    #[default]
    PhotonCounting,
    /// The signal is the deposited energy Σ N_E · E (compound Poisson), as in the
    /// scintillator detectors of most scanners: harder photons weigh more, so beam
    /// hardening and noise differ from photon counting.
    EnergyIntegrating,
}

/// A generator for view `view` of a simulation seeded by `seed`: the stream does not
/// depend on which thread computes the view.
/// One SplitMix64 step from state `x` (the state advanced by the golden-ratio increment,
/// then finalised): decorrelates nearby seeds before they seed a generator.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn view_rng(seed: u64, view: usize) -> Pcg64 {
    let a = splitmix64(seed);
    let b = splitmix64(a ^ (view as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    Pcg64::new(
        (u128::from(a) << 64) | u128::from(b),
        0x0a02_bdbf_7bb3_c0a7_ac28_fa16_a64a_bf96,
    )
}

/// Polychromatic projections of `phantom` in `geometry` with Poisson noise.
///
/// For every detector pixel the exact per-material path lengths `L_m` of its ray
/// (through the pixel centre) give the expected counts
/// `λ = I0 Σ_E w(E) exp(−Σ_m μ_m(E) L_m)` (photon-counting detector); with noise on,
/// the counts are `N ~ Poisson(λ)` plus optional Gaussian electronic noise; counts
/// below `count_floor` are raised to it (photon starvation); the result is
/// `−ln(N / I0)`. With [`DetectorResponse::EnergyIntegrating`] the signal is
/// `Σ_E N_E E`, `N_E ~ Poisson(I0 w(E) t(E))`, relative to the unattenuated `I0 Σ_E w(E) E`. Rays through steel show beam hardening and starvation by
/// themselves. Views are computed in parallel; view `i` draws its noise from a
/// generator seeded by `(seed, i)`, so results do not depend on the thread count.
///
/// **Errors** if an option is out of range (see [`SimulateOptions`]; NaN and ±inf are
/// out of range), the phantom ([`crate::phantom::Phantom::validate`]) or the geometry
/// is invalid, the output would be too large, or `progress` cancels (checked between
/// views).
///
/// # Example
/// ```
/// use ctscreen::geometry::{Geometry, ParallelBeamGeometry};
/// use ctscreen::phantom::{Attenuation, ObjectClass, Phantom, Primitive, Rotation, Shape};
/// use ctscreen::physics::{simulate, Material, SimulateOptions};
/// let mut ph = Phantom::new();
/// let cyl = Primitive::new(Shape::cylinder(50.0, 40.0), [0.0; 3], Rotation::IDENTITY).unwrap();
/// ph.push(cyl, Attenuation::Material(Material::Water), 1, ObjectClass::Clutter, "water");
/// let g: Geometry = ParallelBeamGeometry::new(vec![0.0, 1.0], 64, 2.0, 1).unwrap().into();
/// let opts = SimulateOptions { seed: 7, ..Default::default() };
/// let p = simulate(&ph, &g, &opts, &ctscreen::NoProgress).unwrap();
/// assert_eq!(p.shape(), [2, 1, 64]);
/// ```
pub fn simulate(
    phantom: &Phantom,
    geometry: &Geometry,
    options: &SimulateOptions,
    progress: &dyn Progress,
) -> Result<Projections> {
    options.validate()?;
    let spectrum = options.spectrum()?;
    simulate_spectrum(phantom, geometry, &spectrum, options, progress)
}

/// [`simulate`] with an explicit spectrum (the `kvp`, `filtration` and `bin_kev` of
/// `options` are ignored).
///
/// **Errors** as [`simulate`].
pub fn simulate_spectrum(
    phantom: &Phantom,
    geometry: &Geometry,
    spectrum: &Spectrum,
    options: &SimulateOptions,
    progress: &dyn Progress,
) -> Result<Projections> {
    options.validate()?;
    phantom.validate()?;
    geometry.validate()?;
    let shape = geometry.projection_shape();
    crate::volume::ensure_allocatable(
        "simulated projections",
        crate::volume::element_count(&shape),
        4,
    )?;
    let scene = Scene::new(phantom);
    // μ table: [material slot][energy bin].
    let mu: Vec<Vec<f64>> = scene
        .materials()
        .iter()
        .map(|m| {
            spectrum
                .energies_kev()
                .iter()
                .map(|&e| m.mu_per_mm(e))
                .collect()
        })
        .collect();
    let weights = spectrum.weights();
    let energies = spectrum.energies_kev();
    let mean_energy = spectrum.mean_energy_kev();
    let views = geometry.view_vectors();
    let beam = geometry.beam();
    let (rows, cols) = geometry.detector_shape();
    let mut data = Array3::<f32>::zeros(shape);
    progress.start("simulate", views.len() as u64);
    let i0 = options.photons;
    let floor = options.count_floor;
    let electronic = if options.electronic_noise > 0.0 {
        Some(Normal::new(0.0, options.electronic_noise).map_err(|e| {
            Error::invalid("electronic_noise", options.electronic_noise, e.to_string())
        })?)
    } else {
        None
    };
    data.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .try_for_each(|(vi, mut out)| -> Result<()> {
            progress::check(progress)?;
            let lengths = scene.view_path_lengths(beam, &views[vi], rows, cols);
            let mut rng = view_rng(options.seed, vi);
            let npix = rows * cols;
            let nmat = scene.materials().len();
            let mut exponent = vec![0.0f64; weights.len()];
            let mut transmission = vec![1.0f64; weights.len()];
            for pix in 0..npix {
                let c = lengths.constant[pix];
                exponent.iter_mut().for_each(|x| *x = c);
                let mut any = c != 0.0;
                for s in 0..nmat {
                    let l = lengths.lengths[s * npix + pix];
                    if l != 0.0 {
                        any = true;
                        for (x, m) in exponent.iter_mut().zip(&mu[s]) {
                            *x += m * l;
                        }
                    }
                }
                if any {
                    exp_neg_into(&exponent, &mut transmission);
                }
                let value = match options.detector {
                    DetectorResponse::PhotonCounting => {
                        let t = if any {
                            dot(weights, &transmission)
                        } else {
                            1.0
                        };
                        let lambda = i0 * t;
                        let mut counts = if options.noise {
                            poisson(&mut rng, lambda)
                        } else {
                            lambda
                        };
                        if let Some(n) = &electronic {
                            counts += n.sample(&mut rng);
                        }
                        -(counts.max(floor) / i0).ln()
                    }
                    DetectorResponse::EnergyIntegrating => {
                        // Σ_E N_E · E with N_E ~ Poisson(I0 w_E t_E): exact compound
                        // Poisson, bin by bin.
                        let mut signal = 0.0;
                        for ((w, t), e) in weights.iter().zip(&transmission).zip(energies) {
                            let lambda = i0 * w * if any { *t } else { 1.0 };
                            let n = if options.noise {
                                poisson(&mut rng, lambda)
                            } else {
                                lambda
                            };
                            signal += n * e;
                        }
                        if let Some(n) = &electronic {
                            signal += n.sample(&mut rng) * mean_energy;
                        }
                        -(signal.max(floor * mean_energy) / (i0 * mean_energy)).ln()
                    }
                };
                out[[pix / cols, pix % cols]] = value as f32;
            }
            progress.advance(1);
            Ok(())
        })?;
    Projections::new(data)
}

/// `out[i] = e^(−x[i])` (`out` as long as `x`), to within 2 ulp of `f64::exp` for
/// `−x` in [−708, 709]; `−x` is clamped to that range (below it a transmission is under
/// 10⁻³⁰⁷, i.e. zero photons). Branch-free, so the compiler vectorises it: the
/// simulator takes one exponential per energy bin and detector pixel.
///
/// Method: `e^y = 2^n e^r` with `n = round(y / ln 2)` (by adding and subtracting
/// 1.5 · 2⁵², which also leaves `n` in the low bits), `r = y − n ln 2` in two parts
/// (Cody–Waite), `|r| ≤ ln 2 / 2`, and `e^r` by its Taylor series to `r¹²` (truncation
/// below 2 · 10⁻¹⁶ relative); `2^n` is built in the exponent bits.
fn exp_neg_into(x: &[f64], out: &mut [f64]) {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52
    const C: [f64; 13] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
    ];
    for (o, &xi) in out.iter_mut().zip(x) {
        let y = (-xi).clamp(-708.0, 709.0);
        let shifted = y * std::f64::consts::LOG2_E + ROUND;
        let n = shifted - ROUND;
        let r = (y - n * LN2_HI) - n * LN2_LO;
        let mut p = C[12];
        for &c in C[..12].iter().rev() {
            p = p * r + c;
        }
        // The low bits of `shifted` hold n (two's complement); n + 1023 ∈ [2, 2046].
        let scale = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
        *o = p * scale;
    }
}

/// `Σ a[i] b[i]` in four interleaved partial sums (vectorised; the order is fixed, so
/// the result is deterministic).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a4.zip(b4) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_neg_matches_the_standard_library() {
        let xs: Vec<f64> = (0..20_001)
            .map(|i| -709.0 + i as f64 * (708.0 + 709.0) / 20_000.0)
            .chain([0.0, -0.0, 1e-300, 0.5 * std::f64::consts::LN_2, 3.0, 707.9])
            .collect();
        let mut got = vec![0.0; xs.len()];
        exp_neg_into(&xs, &mut got);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = (-x).exp();
            assert!((g - want).abs() <= 4.5e-16 * want, "e^-{x}: {g} vs {want}");
        }
        // Clamped beyond the range: tiny, finite, not negative.
        let mut far = [0.0; 2];
        exp_neg_into(&[800.0, 1e10], &mut far);
        assert!(far.iter().all(|&v| (0.0..1e-300).contains(&v)), "{far:?}");
        let (a, b): (Vec<f64>, Vec<f64>) = (0..11)
            .map(|i| (i as f64 * 0.5, 1.0 / (1.0 + i as f64)))
            .unzip();
        let exact: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - exact).abs() < 1e-14 * exact);
    }

    #[test]
    fn tables_reproduce_nist_grid_points() {
        // Grid values come back exactly; edges jump.
        assert!((Material::Lead.mass_attenuation_cm2_g(100.0) - 5.549).abs() < 1e-12);
        assert!(Material::Lead.mass_attenuation_cm2_g(87.9) < 2.0);
        assert!(Material::Lead.mass_attenuation_cm2_g(88.1) > 7.0);
        assert!(Material::Tungsten.mass_attenuation_cm2_g(69.0) < 3.0);
        assert!(Material::Tungsten.mass_attenuation_cm2_g(70.0) > 10.0);
        for m in Material::ALL {
            let mut prev = f64::INFINITY;
            for e in (20..=200).step_by(5) {
                let v = m.mu_per_mm(e as f64);
                assert!(v.is_finite() && v > 0.0, "{m} {e}");
                if !matches!(m, Material::Lead | Material::Tungsten) {
                    assert!(v < prev, "{m} not decreasing at {e} keV");
                }
                prev = v;
            }
            assert_eq!(Material::from_name(m.name()).unwrap(), *m);
        }
        assert!(Material::from_name("unobtainium")
            .unwrap_err()
            .to_string()
            .contains("steel"));
    }

    #[test]
    fn volume_water_helper_agrees() {
        for e in [30.0, 55.0, 70.0, 100.0, 140.0] {
            let a = Material::Water.mu_per_mm(e);
            let b = crate::volume::water_mu_per_mm(e).unwrap();
            assert!((a - b).abs() < 1e-12, "{e}: {a} vs {b}");
        }
    }

    #[test]
    fn spectrum_hardens_with_filtration() {
        let soft = Spectrum::kramers(
            120.0,
            Filtration {
                al_mm: 1.0,
                cu_mm: 0.0,
            },
            1.0,
        )
        .unwrap();
        let hard = Spectrum::kramers(
            120.0,
            Filtration {
                al_mm: 3.0,
                cu_mm: 0.5,
            },
            1.0,
        )
        .unwrap();
        assert!(hard.mean_energy_kev() > soft.mean_energy_kev() + 5.0);
        assert!(hard.effective_energy_kev() > soft.effective_energy_kev());
        let e80 = Spectrum::kramers(80.0, Filtration::default(), 1.0).unwrap();
        let e160 = Spectrum::kramers(160.0, Filtration::default(), 1.0).unwrap();
        assert!(e160.effective_energy_kev() > e80.effective_energy_kev() + 10.0);
        // Monochromatic: the effective energy is the energy.
        let m = Spectrum::monochromatic(70.0).unwrap();
        assert!((m.effective_energy_kev() - 70.0).abs() < 1e-6);
        assert!(Spectrum::kramers(500.0, Filtration::default(), 1.0).is_err());
        assert!(Spectrum::kramers(
            120.0,
            Filtration {
                al_mm: -1.0,
                cu_mm: 0.0
            },
            1.0
        )
        .is_err());
    }
}
