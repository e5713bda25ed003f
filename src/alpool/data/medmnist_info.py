"""MedMNIST names, descriptions, classes and checksums (no imports: read by the dataset registry)."""

from __future__ import annotations

MEDMNIST_BUDGET = 20  # [CS] cold start: 20 initial labels
_ORGANS = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
           "liver", "lung-left", "lung-right", "pancreas", "spleen")

# name -> (one-line description, class names, md5 of the 28x28 file)
MEDMNIST_INFO: dict[str, tuple[str, tuple[str, ...], str]] = {
    "pathmnist": ("colon pathology, 9 tissue types, 90k/10k/7k RGB",
                  ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                   "normal colon mucosa", "cancer-associated stroma",
                   "colorectal adenocarcinoma epithelium"),
                  "a8b06965200029087d5bd730944a56c1"),
    "dermamnist": ("dermatoscope skin lesions (HAM10000), 7 classes, 7k/1k/2k RGB",
                   ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                    "benign keratosis-like lesions", "dermatofibroma", "melanoma",
                    "melanocytic nevi", "vascular lesions"),
                   "0744692d530f8e62ec473284d019b0c7"),
    "octmnist": ("retinal OCT, 4 diagnoses, 97k/11k/1k grayscale",
                 ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
                 "c68d92d5b585d8d81f7112f81e2d0842"),
    "pneumoniamnist": ("paediatric chest X-ray, normal vs pneumonia, 4.7k/0.5k/0.6k grayscale",
                       ("normal", "pneumonia"), "28209eda62fecd6e6a2d98b1501bb15f"),
    "retinamnist": ("fundus images, 5 diabetic-retinopathy grades (ordinal), 1k/120/400 RGB",
                    ("0", "1", "2", "3", "4"), "bd4c0672f1bba3e3a89f0e4e876791e4"),
    "breastmnist": ("breast ultrasound, malignant vs normal/benign, 546/78/156 grayscale",
                    ("malignant", "normal, benign"), "750601b1f35ba3300ea97c75c52ff8f6"),
    "bloodmnist": ("blood cell microscopy, 8 cell types, 12k/1.7k/3.4k RGB",
                   ("basophil", "eosinophil", "erythroblast",
                    "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
                    "lymphocyte", "monocyte", "neutrophil", "platelet"),
                   "7053d0359d879ad8a5505303e11de1dc"),
    "tissuemnist": ("kidney cortex cells, 8 types, 165k/24k/47k grayscale",
                    ("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
                     "Glomerular endothelial cells", "Interstitial endothelial cells",
                     "Leukocytes", "Podocytes", "Proximal Tubule Segments",
                     "Thick Ascending Limb"),
                    "ebe78ee8b05294063de985d821c1c34b"),
    "organamnist": ("abdominal CT axial slices, 11 organs, 35k/6.5k/18k grayscale",
                    _ORGANS, "866b832ed4eeba67bfb9edee1d5544e6"),
    "organcmnist": ("abdominal CT coronal slices, 11 organs, 13k/2.4k/8.3k grayscale",
                    _ORGANS, "0afa5834fb105f7705a7d93372119a21"),
    "organsmnist": ("abdominal CT sagittal slices, 11 organs, 14k/2.5k/8.8k grayscale",
                    _ORGANS, "e5c39f1af030238290b9557d9503af9d"),
}
