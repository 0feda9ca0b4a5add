# Quick PyTorch check (run by hand): Conv8 width 0.25, PyTorch default init, SGD lr 0.05
# momentum 0.9 wd 1e-4, batch 128, on 10,000 CIFAR-10 images from the JPEG tar: does the loss
# leave ln(10) in the first epochs? Usage: /usr/bin/python3 bench/conv8_plateau_check.py
# Environment: SEED (101), EP (epochs, 4), THREADS (2), INIT=kaiming for kaiming_normal_(fan_in, relu)
# weights and zero biases (ltransfer train --init kaiming-normal) instead of the default.
import tarfile, io, numpy as np, torch, torch.nn as nn, time
from PIL import Image
import os,sys; torch.manual_seed(int(os.environ.get("SEED","101"))); torch.set_num_threads(int(os.environ.get("THREADS","2")))
tf=tarfile.open(__import__('os').environ.get('CIFAR_TAR', '../shared/data/cifar10-jpeg.tar'))
classes=['airplane','automobile','bird','cat','deer','dog','frog','horse','ship','truck']
X=[];Y=[]
mem=[m for m in tf.getmembers() if m.isfile() and m.name.startswith('train/') and m.name.endswith('.jpg')]
rng=np.random.default_rng(0); sel=rng.choice(len(mem),10000,replace=False)
for i in sel:
    m=mem[i]; c=m.name.split('/')[1]
    X.append(np.asarray(Image.open(io.BytesIO(tf.extractfile(m).read())).convert('RGB'))); Y.append(classes.index(c))
X=torch.tensor(np.stack(X)).permute(0,3,1,2).float()/255; Y=torch.tensor(Y)
mean=torch.tensor([0.4914,0.4822,0.4465]).view(1,3,1,1); std=torch.tensor([0.2470,0.2435,0.2616]).view(1,3,1,1)
X=(X-mean)/std
f=0.25
def c(i,o): return nn.Conv2d(int(i*f) if i!=3 else 3,int(o*f),3,1,1)
convs=nn.Sequential(c(3,64),nn.ReLU(),c(64,64),nn.ReLU(),nn.MaxPool2d(2),c(64,128),nn.ReLU(),c(128,128),nn.ReLU(),nn.MaxPool2d(2),c(128,256),nn.ReLU(),c(256,256),nn.ReLU(),nn.MaxPool2d(2),c(256,512),nn.ReLU(),c(512,512),nn.ReLU(),nn.MaxPool2d(4))
lin=nn.Sequential(nn.Conv2d(128,64,1),nn.ReLU(),nn.Conv2d(64,64,1),nn.ReLU(),nn.Conv2d(64,10,1))
model=nn.Sequential(convs,lin,nn.Flatten())
INIT=os.environ.get("INIT","default")
if INIT=="kaiming":
    for mm in model.modules():
        if isinstance(mm,nn.Conv2d): nn.init.kaiming_normal_(mm.weight,mode="fan_in",nonlinearity="relu"); nn.init.zeros_(mm.bias)
opt=torch.optim.SGD(model.parameters(),lr=0.05,momentum=0.9,weight_decay=1e-4)
with torch.no_grad(): print('init logit std', model(X[:256]).std().item())
t=time.time()
for ep in range(int(os.environ.get("EP","4"))):
    perm=torch.randperm(10000); tot=0;n=0;cor=0
    for b in range(0,10000-127,128):
        idx=perm[b:b+128]; out=model(X[idx]); loss=nn.functional.cross_entropy(out,Y[idx])
        opt.zero_grad(); loss.backward(); opt.step(); tot+=loss.item()*128; n+=128; cor+=(out.argmax(1)==Y[idx]).sum().item()
    print('epoch',ep+1,'loss %.4f acc %.3f'%(tot/n,cor/n), '%.1fs'%(time.time()-t), flush=True)
